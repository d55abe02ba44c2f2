"""``SETRNaiveHead``: SETR-Naive decoder (and the Naive/MLA auxiliary heads) for mmseg."""

from __future__ import annotations

from typing import Optional

from mmseg.registry import MODELS

from ..models.setr_heads import SETR_DECODERS, SETRUpHead
from ._setr_norm import norm_kind
from .torch_decode_head import TorchModuleDecodeHead


@MODELS.register_module()
class SETRNaiveHead(TorchModuleDecodeHead):
    """SETR-Naive (Zheng et al., CVPR 2021, Sec. 3.3): LayerNorm, 1x1 conv + BN + ReLU, 1x1 conv
    to the classes, at H/16; mmseg upsamples the logits bilinearly to the label size.

    Defaults: ``segclassics.models.setr_heads.SETR_DECODERS['naive'].head``.

    Args:
        in_channels: encoder width (1024 for ViT-L).
        channels: hidden width (256 in the ADE20K configs).
        num_classes: classes.
        num_convs: hidden conv stages (1; 0 = classifier only, used as the MLA auxiliary head on
            the neck outputs with ``input_norm=False``). ``None``: the spec's.
        kernel_size: 1 (paper) or 3. ``None``: the spec's.
        up_scale: bilinear factor after each stage (1 = none). ``None``: the spec's.
        input_norm: LayerNorm over input channels first (official heads do).
        **kwargs: ``BaseDecodeHead`` arguments (``in_index``, ``norm_cfg``, ``dropout_ratio``,
            ``loss_decode``, ``align_corners``, ...).

    Shapes: (B, in_channels, h, w) -> (B, num_classes, h * up_scale**num_convs, ...).
    """

    decoder = "naive"  # which SETR_DECODERS entry gives the defaults of num_convs, kernel_size, up_scale

    def __init__(
        self,
        *,
        num_convs: Optional[int] = None,
        kernel_size: Optional[int] = None,
        up_scale: Optional[int] = None,
        input_norm: bool = True,
        **kwargs,
    ):
        kwargs.setdefault("dropout_ratio", 0.0)
        super().__init__(**kwargs)
        given = dict(num_convs=num_convs, kernel_size=kernel_size, up_scale=up_scale)
        arch = {**SETR_DECODERS[self.decoder].head, **{k: v for k, v in given.items() if v is not None}}
        self.module = SETRUpHead(
            self.in_channels,
            self.channels,
            self.out_channels,
            input_norm=input_norm,
            norm=norm_kind(self.norm_cfg),
            dropout=self.dropout_ratio,
            align_corners=self.align_corners,
            decoder=self.decoder,
            **arch,
        )
