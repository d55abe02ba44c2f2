"""``SETRPUPHead``: SETR-PUP progressive-upsampling decoder (and its auxiliary heads) for mmseg."""

from __future__ import annotations

from mmseg.registry import MODELS

from .setr_naive_head import SETRNaiveHead


@MODELS.register_module()
class SETRPUPHead(SETRNaiveHead):
    """SETR-PUP (Zheng et al., CVPR 2021, Sec. 3.3, Fig. 1b): LayerNorm, then ``num_convs`` x
    (3x3 conv + BN + ReLU + 2x bilinear upsampling), 1x1 classifier -- from H/16 to H in 4 steps.
    The last upsampling is applied to the logits (identical result, see
    ``segclassics.models.setr_heads``). Auxiliary heads (Z^10, Z^15, Z^20, Z^24): ``num_convs=1,
    up_scale=4`` (the official code's aux head). Defaults:
    ``segclassics.models.setr_heads.SETR_DECODERS['pup'].head``.

    Args:
        in_channels, channels, num_classes: encoder width, decoder width (256), classes.
        num_convs: 4 (main head) / 1 (aux).
        kernel_size: 3.
        up_scale: 2 (main) / 4 (aux).
        input_norm: LayerNorm over the input channels first.
        **kwargs: ``BaseDecodeHead`` arguments.

    Shapes: (B, in_channels, h, w) -> (B, num_classes, h * up_scale**num_convs, ...).
    """

    decoder = "pup"  # same module as the Naive head (``SETRUpHead``); only the spec's defaults differ
