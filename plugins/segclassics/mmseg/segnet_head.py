"""mmseg decode head: SegNet's decoder (unpooling with the encoder's indices, then convs).

Badrinarayanan et al., "SegNet", TPAMI 2017, Sec. 3, Fig. 2-3: every decoder stage
unpools (``segclassics.models.segnet.max_unpool``) with the indices and pre-pool size remembered by the mirrored
encoder pool ("nothing learned"), then convolves (+ BN [+ ReLU]); a soft-max classifier
(1x1 for SegNet-Basic, 3x3 ``conv1_1_D`` for SegNet) gives ``num_classes`` scores at the
input resolution.
"""

from __future__ import annotations

from typing import Optional, Sequence

from mmseg.registry import MODELS

from segclassics.mmseg.torch_decode_head import TorchModuleDecodeHead
from segclassics.models.segnet import PoolRecord, build_segnet_decoder


@MODELS.register_module()
class SegNetHead(TorchModuleDecodeHead):
    """SegNet / SegNet-Basic decoder for mmseg, fed by ``SegNetBackbone``.

    Args:
        arch, widths, num_stages, kernel_size: as ``SegNetBackbone`` (must match it).
        in_channels: channels of the encoder output (512 SegNet, 64 SegNet-Basic).
        channels: width of the last decoder feature, the classifier's input (64 for both);
            for ``arch='basic'`` it is SegNet-Basic's width.
        num_classes, loss_decode, ignore_index, ...: ``BaseDecodeHead`` arguments. For
            median-frequency balancing pass ``loss_decode=dict(type='CrossEntropyLoss',
            class_weight=[...])`` (values from ``python -m segclassics.tools.analysis.class_weights``).

    Input: the backbone tuple ``(features, record_1, ..., record_S)`` (``in_index`` and
    ``input_transform`` are not used: the head needs every entry). Output:
    ``(N, num_classes, H, W)`` logits at the input resolution.
    """

    def __init__(
        self,
        arch: str = "vgg16",
        widths: Optional[Sequence[int]] = None,
        num_stages: int = 4,
        kernel_size: int = 7,
        in_index: int = 0,
        **kwargs,
    ):
        super().__init__(in_index=in_index, **kwargs)
        self.module = build_segnet_decoder(
            arch,
            self.num_classes,
            widths=widths,
            channels=self.channels,
            num_stages=num_stages,
            kernel_size=kernel_size,
        )
        cls_in = self.module.classifier.in_channels
        if cls_in != self.channels:
            raise ValueError(f"SegNetHead(arch={arch!r}): the classifier sees {cls_in} channels; set channels={cls_in}")
        first = self.module.stages[0][0].in_channels
        if first != self.in_channels:
            raise ValueError(
                f"SegNetHead(arch={arch!r}): the decoder expects {first} input channels from the "
                f"encoder but in_channels={self.in_channels}"
            )

    def forward(self, inputs):
        if (
            not isinstance(inputs, (tuple, list))
            or len(inputs) != self.module.num_stages + 1
            or not all(isinstance(r, PoolRecord) for r in inputs[1:])
        ):
            kinds = [type(i).__name__ for i in inputs] if isinstance(inputs, (tuple, list)) else type(inputs).__name__
            raise ValueError(
                f"SegNetHead needs SegNetBackbone's output (features, {self.module.num_stages} "
                f"PoolRecords), got {kinds}; do not put a neck between them"
            )
        return self.module(inputs[0], list(inputs[1:]))
