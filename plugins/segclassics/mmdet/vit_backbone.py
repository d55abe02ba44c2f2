"""mmdet backbone ``SETRViT``: the SETR/ViT encoder (plain ViT, no downsampling) for detectors.

Dosovitskiy et al., ViT, ICLR 2021, Sec. 3.1; Zheng et al., SETR, CVPR 2021, Sec. 3.1. The class
is :class:`segclassics.openmmlab.setr_vit.SETRViT` (the same one mmseg gets) returning a tuple, as
mmdet's necks expect. Every output is a single-scale ``(N, embed_dim, H/16, W/16)`` map, so a
Mask R-CNN on it needs a pyramid built *from* these maps, as ViTDet (Li et al., ECCV 2022, Sec. 3
"simple feature pyramid") does: the segclassics configs use mmseg's ``MultiLevelNeck`` (rescale
by 4, 2, 1, 1/2 -> strides 4..32) followed by mmdet's ``FPN``.

Registered in mmdet's ``MODELS`` as ``SETRViT`` (mmdet has no ViT backbone of that name).
"""

from __future__ import annotations

from typing import Tuple

import torch
from mmdet.registry import MODELS

from segclassics.openmmlab.setr_vit import SETRViT


@MODELS.register_module(name="SETRViT")
class MMDetSETRViT(SETRViT):
    """``SETRViT`` whose ``forward`` returns a tuple of the ``out_indices`` maps."""

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(super().forward(x))
