"""detectron2 backbone: SegNet's encoder, whose pool indices travel as extra feature entries.

Badrinarayanan et al., "SegNet", TPAMI 2017, Sec. 3 (VGG16-BN encoder, 2x2 max-pools that
remember their argmax) and Sec. 3.1 (SegNet-Basic: 4 x 64-channel 7x7 conv + BN + ReLU).

detectron2 backbones return ``Dict[str, Tensor]``. This one returns::

    {f"pool{S}":         (N, C, h, w) encoder output (S = number of stages; ``output_shape()``),
     "pool1_indices":    (N, C1, H/2, W/2) int64 argmax indices of stage 1, ... up to stage S,
     "pool1_size":       empty tensor of shape (0, H, W): the pre-pool size of stage 1, ... }

(:func:`segclassics.models.segnet.pool_records_to_dict`). Only ``pool{S}`` is a feature map
and is listed by :meth:`output_shape`; the ``*_indices`` / ``*_size`` entries are side
information that ``SegNetSemSegHead`` reads back with ``pool_records_from_dict``. Heads that
iterate over every entry of the dict should select ``in_features`` instead.

yaml configs: ``MODEL.BACKBONE.NAME: "SegNetEncoderBackbone"`` plus the ``MODEL.SEGCLASSICS.SEGNET``
keys (``ARCH``, ``WIDTHS``, ``CHANNELS``, ``NUM_STAGES``, ``KERNEL_SIZE``, ``CEIL_MODE``; see
``segclassics.detectron2.config``). Lazy configs call the class directly.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

from segclassics.detectron2.config import part_options
from segclassics.models.segnet import build_segnet_encoder, pool_records_to_dict


def segnet_args_from_cfg(cfg) -> dict:
    """The architecture keywords shared by the SegNet backbone and head, from
    ``MODEL.SEGCLASSICS.SEGNET`` (``segclassics.detectron2.config``)."""
    args = part_options(cfg, "SEGNET")
    args.pop("ceil_mode")
    return args


@BACKBONE_REGISTRY.register()
class SegNetEncoderBackbone(Backbone):
    """SegNet / SegNet-Basic encoder as a detectron2 ``Backbone``.

    Args:
        arch: ``'vgg16'`` (SegNet) or ``'basic'`` (SegNet-Basic).
        in_channels: image channels.
        widths: VGG16 stage widths (``None`` = the paper's); only for ``'vgg16'``.
        channels, num_stages, kernel_size: SegNet-Basic's width, depth and kernel (64, 4, 7).
        ceil_mode: Caffe pooling (``ceil(H/2)``), as the SegNet release.

    Shapes: ``(N, in_channels, H, W)`` -> dict described in the module docstring; any ``H, W``
    (``size_divisibility`` is 0: unpooling restores odd sizes exactly).
    """

    @configurable
    def __init__(
        self,
        *,
        arch: str = "vgg16",
        in_channels: int = 3,
        widths: Optional[Sequence[int]] = None,
        channels: int = 64,
        num_stages: int = 4,
        kernel_size: int = 7,
        ceil_mode: bool = True,
    ):
        super().__init__()
        self.encoder = build_segnet_encoder(
            arch,
            in_channels,
            widths=widths,
            channels=channels,
            num_stages=num_stages,
            kernel_size=kernel_size,
            ceil_mode=ceil_mode,
        )
        self.num_stages = self.encoder.num_stages
        self.out_name = f"pool{self.num_stages}"

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        return dict(in_channels=input_shape.channels, **part_options(cfg, "SEGNET"))

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        y, records = self.encoder(x)
        return {self.out_name: y, **pool_records_to_dict(records)}

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {self.out_name: ShapeSpec(channels=self.encoder.out_channels, stride=2**self.num_stages)}
