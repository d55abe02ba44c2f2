"""mmdet backbone ``SETRViT``: the SETR/ViT encoder (plain ViT, no downsampling) for detectors.

Dosovitskiy et al., ViT, ICLR 2021, Sec. 3.1; Zheng et al., SETR, CVPR 2021, Sec. 3.1. The
computation is :class:`segclassics.models.vit.VisionTransformer`; this class only adds
mmengine's module API and a checked ``pretrained`` loader. Every output is a single-scale
``(N, embed_dim, H/16, W/16)`` map, so a Mask R-CNN on it needs a pyramid built *from* these
maps, as ViTDet (Li et al., ECCV 2022, Sec. 3 "simple feature pyramid") does: the segclassics
configs use mmseg's ``MultiLevelNeck`` (rescale by 4, 2, 1, 1/2 -> strides 4..32) followed by
mmdet's ``FPN``.

Registered in mmdet's ``MODELS`` as ``SETRViT`` (mmdet has no ViT backbone of that name).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from mmdet.registry import MODELS

from segclassics.models.vit import VIT_PRESETS, VisionTransformer
from segclassics.models.vit_convert import convert_vit_checkpoint
from segclassics.utils.checkpoint import read_state_dict


@MODELS.register_module(name='SETRViT')
class MMDetSETRViT(VisionTransformer):
    """ViT encoder returning ``out_indices`` maps ``(N, embed_dim, ceil(H/p), ceil(W/p))`` as a tuple.

    Args:
        arch: ``'vit_base_patch16'`` / ``'vit_large_patch16'`` presets (ViT Table 1) or ``None``;
            explicit ``embed_dim`` / ``depth`` / ``num_heads`` ... override the preset.
        out_indices: 0-based layers returned (ViTDet uses the last; SETR-MLA-style 4 layers feed a
            4-level pyramid).
        pretrained: timm / mmseg / official SETR ViT checkpoint (``segclassics.models.vit_convert``),
            loaded in ``init_weights`` with a key-by-key check.
        pretrained_format: 'auto' | 'timm' | 'mmseg' | 'official'.
        init_cfg: accepted for mmengine compatibility; only ``None``.
        Other arguments: :class:`segclassics.models.vit.VisionTransformer`.
    """

    def __init__(self, arch: Optional[str] = 'vit_base_patch16', *, pretrained: Optional[str] = None,
                 pretrained_format: str = 'auto', init_cfg=None, **kwargs):
        if arch is not None:
            if arch not in VIT_PRESETS:
                raise ValueError(f'SETRViT arch must be one of {sorted(VIT_PRESETS)} or None, got {arch!r}')
            kwargs = {**VIT_PRESETS[arch], **kwargs}
        if init_cfg is not None:
            raise ValueError(f'SETRViT initialises itself (timm ViT init); use pretrained=PATH, not '
                             f'init_cfg={init_cfg!r}')
        if 'out_indices' in kwargs:
            kwargs['out_indices'] = tuple(kwargs['out_indices'])
        super().__init__(**kwargs)
        self.pretrained = pretrained
        self.pretrained_format = pretrained_format

    def init_weights(self) -> None:
        super().init_weights()
        if getattr(self, 'pretrained', None):
            sd = convert_vit_checkpoint(read_state_dict(self.pretrained), self.pretrained_format, backbone_only=True)
            self.load_pretrained(sd)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(super().forward(x))
