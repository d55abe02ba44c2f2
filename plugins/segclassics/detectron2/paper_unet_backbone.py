"""``PaperUNetBackbone``: the UNet contracting path (Ronneberger et al. 2015, Sec. 2) as a detectron2
backbone."""

from __future__ import annotations

from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

from segclassics.detectron2.config import part_options
from segclassics.models.unet import UNetEncoder, init_unet_weights, unet_border


class PaperUNetBackbone(Backbone):
    """UNet contracting path (paper Sec. 2, Fig. 1 left).

    Args:
        in_channels, base_channels, depth, padding (``'valid'`` paper / ``'same'``), norm
        (None paper / ``'BN'`` / ``'SyncBN'`` / ``'GN'``), dropout: as ``segclassics.models.unet.UNetEncoder``.

    Input ``(N, in_channels, H, W)``; output ``{"unet0": ..., "unet{depth-1}": ...}``, level ``i``
    with ``base_channels * 2**i`` channels, stride ``2**i``. ``'same'``: ``size_divisibility`` is
    ``2**(depth-1)`` so detectron2 pads images to a size the net accepts. ``'valid'``: training
    crops must be valid sizes; use ``OverlapTileSemanticSegmentor`` for inference.
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 64,
        depth: int = 5,
        padding: str = "valid",
        norm=None,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.module = UNetEncoder(in_channels, base_channels, depth, padding, norm, dropout)
        init_unet_weights(self.module)
        self.depth, self.padding = depth, padding
        self.border = unet_border(depth, padding)
        self._out_features = [f"unet{i}" for i in range(depth)]
        self._out_feature_channels = {f"unet{i}": c for i, c in enumerate(self.module.channels)}
        self._out_feature_strides = {f"unet{i}": 2**i for i in range(depth)}

    @property
    def size_divisibility(self) -> int:
        return 2 ** (self.depth - 1) if self.padding == "same" else 0

    def forward(self, x):
        return dict(zip(self._out_features, self.module(x)))

    def output_shape(self):
        return {
            n: ShapeSpec(channels=self._out_feature_channels[n], stride=self._out_feature_strides[n])
            for n in self._out_features
        }


@BACKBONE_REGISTRY.register()
def build_paper_unet_backbone(cfg, input_shape):
    """yaml: ``MODEL.BACKBONE.NAME: build_paper_unet_backbone`` with ``MODEL.SEGCLASSICS.UNET.{BASE_CHANNELS,
    DEPTH,PADDING,NORM,DROPOUT}`` (defaults 64, 5, 'valid', '' (none), 0.0: the paper's net)."""
    return PaperUNetBackbone(input_shape.channels, **part_options(cfg, "UNET"))
