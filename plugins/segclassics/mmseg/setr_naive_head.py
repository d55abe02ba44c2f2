"""``SETRNaiveHead``: SETR-Naive decoder (and the Naive/MLA auxiliary heads) for mmseg."""
from __future__ import annotations

from mmseg.registry import MODELS

from ..models.setr_heads import SETRUpHead
from ._setr_norm import maybe_sync_bn, norm_kind
from .torch_decode_head import TorchModuleDecodeHead


@MODELS.register_module()
class SETRNaiveHead(TorchModuleDecodeHead):
    """SETR-Naive (Zheng et al., CVPR 2021, Sec. 3.3): LayerNorm, 1x1 conv + BN + ReLU, 1x1 conv
    to the classes, at H/16; mmseg upsamples the logits bilinearly to the label size.

    Args:
        in_channels: encoder width (1024 for ViT-L).
        channels: hidden width (256 in the ADE20K configs).
        num_classes: classes.
        num_convs: hidden conv stages (1; 0 = classifier only, used as the MLA auxiliary head on
            the neck outputs with ``input_norm=False``).
        kernel_size: 1 (paper) or 3.
        up_scale: bilinear factor after each stage (1 = none).
        input_norm: LayerNorm over input channels first (official heads do).
        **kwargs: ``BaseDecodeHead`` arguments (``in_index``, ``norm_cfg``, ``dropout_ratio``,
            ``loss_decode``, ``align_corners``, ...).

    Shapes: (B, in_channels, h, w) -> (B, num_classes, h * up_scale**num_convs, ...).
    """

    def __init__(self, *, num_convs: int = 1, kernel_size: int = 1, up_scale: int = 1, input_norm: bool = True,
                 **kwargs):
        kwargs.setdefault('dropout_ratio', 0.0)
        super().__init__(**kwargs)
        module = SETRUpHead(self.in_channels, self.channels, self.out_channels, num_convs=num_convs,
                            kernel_size=kernel_size, up_scale=up_scale, input_norm=input_norm,
                            norm=norm_kind(self.norm_cfg), dropout=self.dropout_ratio,
                            align_corners=self.align_corners)
        self.module = maybe_sync_bn(module, self.norm_cfg)
