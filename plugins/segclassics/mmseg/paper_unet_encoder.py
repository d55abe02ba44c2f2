"""``PaperUNetEncoder``: the contracting path of Ronneberger et al. 2015 (Sec. 2) as an mmseg backbone."""

from __future__ import annotations

from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ..models.unet import UNetEncoder, init_unet_weights


@MODELS.register_module()
class PaperUNetEncoder(BaseModule):
    """UNet contracting path (Ronneberger et al., MICCAI 2015, Sec. 2, Fig. 1 left).

    Unlike mmseg's ``UNet`` backbone, ``padding='valid'`` reproduces the paper's unpadded 3x3
    convolutions (572x572 in -> 388x388 out with :class:`PaperUNetHead`); pair it with
    :class:`OverlapTileEncoderDecoder` for full-size predictions of any image size.

    Args:
        in_channels: image channels (1 for grey EM, 3 for RGB).
        base_channels: channels of level 0 (paper 64), doubled per level.
        depth: levels including the bottleneck (paper 5).
        padding: ``'valid'`` (paper) or ``'same'``.
        norm: ``None`` (paper) or ``'BN'`` / ``'SyncBN'`` / ``'GN'`` (``segclassics.models.norm``).
        dropout: drop-out at the end of the contracting path (paper Sec. 3.1).

    Shapes: ``(N, in_channels, H, W)`` -> tuple of ``depth`` maps, level ``i`` with
    ``base_channels * 2**i`` channels, finest first. ``H, W`` must be valid sizes (see
    ``segclassics.models.unet.unet_valid_sizes``); otherwise a ``ValueError`` names the nearest.
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 64,
        depth: int = 5,
        padding: str = "valid",
        norm=None,
        dropout: float = 0.0,
        init_cfg=None,
    ):
        super().__init__(init_cfg=init_cfg)
        self.module = UNetEncoder(in_channels, base_channels, depth, padding, norm, dropout)
        init_unet_weights(self.module)  # paper Sec. 3: N(0, sqrt(2 / fan_in))

    def forward(self, x):
        return tuple(self.module(x))
