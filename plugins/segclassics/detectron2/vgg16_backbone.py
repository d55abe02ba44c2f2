"""detectron2 backbone: VGG16, optionally convolutionized (FCN, Long et al., CVPR 2015, Sec. 3.1).

Simonyan & Zisserman, ICLR 2015, Table 1 (configuration D). The class *is*
:class:`segclassics.models.vgg.VGG16` (keys ``conv1_1.weight`` ..., so a checkpoint converted
with ``python -m segclassics.tools.convert_weights.vgg16_torchvision --prefix backbone.`` loads into any
detectron2 model through ``train.init_checkpoint``), with detectron2's ``Backbone`` API:
``forward`` returns ``{name: feature}`` for ``out_features`` and :meth:`output_shape` their
``ShapeSpec(channels, stride)``.

For an FPN (e.g. Mask R-CNN on VGG16) use the last conv of each stage::

    VGG16Backbone(with_fc=False, out_features=("conv2_2", "conv3_3", "conv4_3", "conv5_3"))
    # strides 2, 4, 8, 16 -- or ("pool2", "pool3", "pool4", "pool5"): strides 4, 8, 16, 32

yaml configs: ``MODEL.BACKBONE.NAME: "VGG16Backbone"`` with options under
``MODEL.SEGCLASSICS.VGG16`` (``segclassics.detectron2.config``; defaults: FCN's reference geometry);
``"build_vgg16_fpn_backbone"``: detectron2's FPN on it (``MODEL.FPN.*``), as
``build_resnet_fpn_backbone`` puts one on a ResNet.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, FPN, Backbone
from detectron2.modeling.backbone.fpn import LastLevelMaxPool

from segclassics.detectron2.config import part_options
from segclassics.models.vgg import VGG16 as TorchVGG16
from segclassics.models.vgg import load_vgg16_weights


@BACKBONE_REGISTRY.register()
class VGG16Backbone(TorchVGG16, Backbone):
    """VGG16 / VGG16-BN as a detectron2 ``Backbone``.

    Args:
        in_channels: image channels.
        out_features: names of the returned features (any VGG16 layer: ``'conv4_3'``,
            ``'pool3'``, ``'fc7'``...; conv outputs after their ReLU).
        norm, with_fc, conv1_1_padding, fc6_padding, ceil_mode, dropout, widths,
            fc_channels: see :class:`segclassics.models.vgg.VGG16`. Defaults are FCN's
            reference geometry (``conv1_1_padding=100``).
        size_divisibility: detectron2 pads the batch to a multiple of this (0: none needed
            by FCN; 32 for an FPN on ``pool5``).
        pretrained: torchvision or converted VGG16 checkpoint, loaded with a key/shape check.

    Shapes: ``(N, in_channels, H, W)`` -> ``{name: (N, C_name, ~H/stride, ~W/stride)}``.
    """

    @configurable
    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_features: Optional[Sequence[str]] = ("pool3", "pool4", "fc7"),
        norm: Optional[str] = None,
        with_fc: bool = True,
        conv1_1_padding: int = 100,
        fc6_padding: int = 0,
        ceil_mode: bool = True,
        dropout: float = 0.5,
        widths: Optional[Sequence[int]] = None,
        fc_channels: int = 4096,
        size_divisibility: int = 0,
        pretrained: Optional[str] = None,
    ):
        TorchVGG16.__init__(
            self,
            in_channels,
            norm=norm,
            with_fc=with_fc,
            out_indices=None if out_features is None else tuple(out_features),
            conv1_1_padding=conv1_1_padding,
            fc6_padding=fc6_padding,
            ceil_mode=ceil_mode,
            dropout=dropout,
            widths=widths,
            fc_channels=fc_channels,
        )
        self._size_divisibility = int(size_divisibility)
        self._out_features = list(self.out_names)
        if pretrained:
            load_vgg16_weights(self, pretrained)

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        return dict(in_channels=input_shape.channels, **part_options(cfg, "VGG16"))

    @property
    def size_divisibility(self) -> int:
        return self._size_divisibility

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return dict(zip(self.out_names, TorchVGG16.forward(self, x)))

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {n: ShapeSpec(channels=self.channels[n], stride=self.strides[n]) for n in self.out_names}


@BACKBONE_REGISTRY.register()
def build_vgg16_fpn_backbone(cfg, input_shape: ShapeSpec):
    """yaml: ``MODEL.BACKBONE.NAME: build_vgg16_fpn_backbone``: ``VGG16Backbone`` (``MODEL.SEGCLASSICS.VGG16``)
    under detectron2's ``FPN`` with ``MODEL.FPN.{IN_FEATURES,OUT_CHANNELS,NORM,FUSE_TYPE}`` and a max-pooled
    top level (``p6``), exactly what ``build_resnet_fpn_backbone`` builds on a ResNet."""
    return FPN(
        bottom_up=VGG16Backbone(cfg, input_shape),
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
