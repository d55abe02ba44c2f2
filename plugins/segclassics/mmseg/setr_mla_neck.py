"""``SETRMLANeck``: the multi-level aggregation neck of SETR-MLA for mmseg."""

from __future__ import annotations

from typing import Sequence

from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ..models.setr_heads import SETRMLANeck as _MLANeck
from ._setr_norm import norm_kind


@MODELS.register_module()
class SETRMLANeck(BaseModule):
    """SETR-MLA neck (Zheng et al., CVPR 2021, Sec. 3.3, Fig. 1c): per stream LayerNorm and
    1x1 conv (+BN+ReLU), top-down element-wise addition, 3x3 conv (+BN+ReLU).

    Args:
        in_channels: encoder widths of the 4 streams ([1024] * 4 for ViT-L, Z^6, Z^12, Z^18, Z^24).
        out_channels: stream width (256).
        norm_cfg: ``dict(type='BN' | 'SyncBN' | 'GN')``.

    Shapes: 4 maps (B, in_channels[i], h, w) -> tuple of 4 maps (B, out_channels, h, w),
    deepest-aggregate first (as mmseg's ``MLANeck``).
    """

    def __init__(
        self, in_channels: Sequence[int] = (1024,) * 4, out_channels: int = 256, norm_cfg=dict(type="BN"), init_cfg=None
    ):
        super().__init__(init_cfg=init_cfg)
        self.module = _MLANeck(in_channels, out_channels, norm_kind(norm_cfg))

    def forward(self, inputs):
        return self.module(list(inputs))
