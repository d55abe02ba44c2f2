"""``SETRViT``: the SETR / ViT encoder with mmengine's module API (shared by mmseg and mmdet).

Zheng et al., SETR, CVPR 2021, Sec. 3.1-3.2 (ViT-L/16 encoder, 24 layers, 1024 dims, 16 heads,
no downsampling); Dosovitskiy et al., ViT, ICLR 2021, Sec. 3.1. The computation is
:class:`segclassics.models.vit.VisionTransformer` (fused qkv + SDPA, channels-last feature views,
optional activation checkpointing); mmseg's own ``VisionTransformer`` is not used.
Registered as ``SETRViT`` by ``segclassics.mmseg.setr_vit`` and ``segclassics.mmdet.vit_backbone``.
"""

from __future__ import annotations

import os
import warnings
from typing import Optional

from mmengine.logging import print_log

from ..errors import MissingFileError
from ..models.vit import VIT_PRESETS, VisionTransformer, rename_in_chans
from ..models.vit_convert import convert_vit_checkpoint
from ..utils.checkpoint import read_state_dict


class SETRViT(VisionTransformer):
    """ViT encoder returning ``(B, embed_dim, ceil(H/16), ceil(W/16))`` maps at ``out_indices``.

    Args:
        arch: ``'vit_base_patch16'`` or ``'vit_large_patch16'`` (ViT Table 1) or ``None`` to give
            ``embed_dim`` / ``depth`` / ``num_heads`` / ``mlp_ratio`` / ``patch_size`` explicitly;
            explicit values override the preset.
        img_size: training crop (sets the position-embedding grid; other sizes are handled by
            resizing the embedding with ``interpolate_mode``).
        out_indices: 0-based layers (SETR-PUP on ViT-L: (9, 14, 19, 23) = Z^10, Z^15, Z^20, Z^24).
        pretrained: checkpoint path (timm ``vit_large_patch16_384`` keys, mmseg ViT / SETR, or
            official SETR; see ``segclassics.models.vit_convert``). The position embedding is
            resized; any other mismatch is an error listing the keys.
        pretrained_format: 'auto' | 'timm' | 'mmseg' | 'official'.
        pretrained_missing: 'error' (default) or 'warn' (train from random init, with a warning)
            when ``pretrained`` does not exist.
        init_cfg: mmengine-style ``dict(type='Pretrained', checkpoint=PATH)`` is accepted as an
            alias of ``pretrained``.
        Other arguments: :class:`segclassics.models.vit.VisionTransformer` (``in_channels``; the
            old ``in_chans`` still works, with a ``DeprecationWarning``).
    """

    def __init__(
        self,
        arch: Optional[str] = "vit_base_patch16",
        *,
        pretrained: Optional[str] = None,
        pretrained_format: str = "auto",
        pretrained_missing: str = "error",
        init_cfg=None,
        **kwargs,
    ):
        kwargs = rename_in_chans(kwargs, "SETRViT")
        if arch is not None:
            if arch not in VIT_PRESETS:
                raise ValueError(f"SETRViT arch must be one of {sorted(VIT_PRESETS)} or None, got {arch!r}")
            kwargs = {**VIT_PRESETS[arch], **kwargs}
        super().__init__(**kwargs)
        if isinstance(init_cfg, dict) and init_cfg.get("type") == "Pretrained":
            if pretrained is not None:
                raise ValueError('give either pretrained or init_cfg=dict(type="Pretrained"), not both')
            pretrained = init_cfg.get("checkpoint")
        elif init_cfg is not None:
            raise ValueError(
                f"SETRViT initialises itself (timm ViT init); init_cfg may only be "
                f'dict(type="Pretrained", checkpoint=...), got {init_cfg!r}'
            )
        if pretrained_missing not in ("error", "warn"):
            raise ValueError(f"pretrained_missing must be 'error' or 'warn', got {pretrained_missing!r}")
        self.pretrained = pretrained
        self.pretrained_format = pretrained_format
        self.pretrained_missing = pretrained_missing
        self.is_init = False

    def init_weights(self) -> None:
        super().init_weights()
        if getattr(self, "pretrained", None):  # also called from VisionTransformer.__init__
            if not os.path.isfile(self.pretrained):
                msg = (
                    f"SETRViT: pretrained weights not found at {os.path.abspath(self.pretrained)!r}. SETR's "
                    f"results need ImageNet-21k pretrained ViT weights (timm vit_large_patch16_384, or "
                    f"mmseg/official SETR checkpoints); convert them with "
                    f"python -m segclassics.tools.convert_weights.vit_timm and set model.backbone.pretrained=PATH."
                )
                if self.pretrained_missing == "error":
                    raise MissingFileError(msg)
                warnings.warn(msg + " Training from random initialisation instead.", stacklevel=1)
                print_log(msg + " Training from random initialisation instead.", logger="current", level=30)
            else:
                sd = convert_vit_checkpoint(
                    read_state_dict(self.pretrained), self.pretrained_format, backbone_only=True
                )
                self.load_pretrained(sd)
                print_log(f"SETRViT: loaded {self.pretrained}", logger="current")
        if hasattr(self, "pretrained"):
            self.is_init = True
