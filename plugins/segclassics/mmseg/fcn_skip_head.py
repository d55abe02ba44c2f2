"""mmseg decode head: FCN-32s / 16s / 8s skip fusion (Long et al., CVPR 2015, Sec. 4.2, Fig. 3).

Not mmseg's ``FCNHead`` (a stack of 3x3 convs on a dilated ResNet, from the follow-up
literature): this is the paper's decoder -- zero-initialised 1x1 score layers on ``fc7``,
``pool4``, ``pool3``, bilinear-initialised transposed convolutions and summation with the
reference Caffe crops. The computation is :class:`segclassics.models.fcn.FCNDecoder`.

The reference crops need the network's input size, which mmseg's ``forward(inputs)`` does
not receive; ``loss`` takes it from the (batch-padded) label map and ``predict`` from the
image metas exactly as ``BaseDecodeHead.predict_by_feat`` does, so the logits are the input
size and mmseg's resize is the identity. ``forward`` alone (``tensor`` mode) returns logits
for the largest input consistent with the features, aligned at the top-left (see
``FCNDecoder.forward``).
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from mmseg.registry import MODELS

from segclassics.mmseg.torch_decode_head import TorchModuleDecodeHead, network_input_size
from segclassics.models.fcn import FCNDecoder


@MODELS.register_module()
class FCNSkipHead(TorchModuleDecodeHead):
    """FCN-32s/16s/8s decoder for mmseg, fed by ``VGG16`` (``out_indices=('pool3', 'pool4', 'fc7')``).

    Args:
        variant: ``'32s'``, ``'16s'`` or ``'8s'``.
        mode: ``'caffe'`` (reference crops; backbone ``conv1_1_padding=100, fc6_padding=0``) or
            ``'padded'`` (backbone ``conv1_1_padding=1, fc6_padding=3``); checked at run time.
        at_once: PAMI at-once training: pool4 scaled by 0.01, pool3 by 0.0001 before scoring.
        learn_final_upsample: the paper fixes the last upsampling to bilinear (``False``).
        learn_intermediate_upsample: learn the 2x upsamplings (paper, ``True``) or keep them
            bilinear (the released reference nets, ``False``).
        in_channels: channels of the selected features, increasing stride (VGG16:
            ``[256, 512, 4096]`` for 8s, ``[512, 4096]`` for 16s, ``[4096]`` for 32s).
        in_index: which backbone outputs those are (default: the last ``len(in_channels)``).
        channels: unused by the paper's head (kept for ``BaseDecodeHead``); defaults to ``num_classes``.
        num_classes, loss_decode, ignore_index, ...: ``BaseDecodeHead`` arguments.

    Input: backbone tuple. Output: logits ``(N, num_classes, H, W)`` at the input size.
    """

    def __init__(
        self,
        variant: str = "8s",
        mode: str = "caffe",
        at_once: bool = False,
        learn_final_upsample: bool = False,
        learn_intermediate_upsample: bool = True,
        in_channels: Sequence[int] = (256, 512, 4096),
        in_index: Optional[Sequence[int]] = None,
        channels: Optional[int] = None,
        *,
        num_classes: int,
        dropout_ratio: float = 0.0,
        **kwargs,
    ):
        in_channels = [int(c) for c in ([in_channels] if isinstance(in_channels, int) else in_channels)]
        if in_index is None:
            in_index = list(range(3 - len(in_channels), 3)) if len(in_channels) <= 3 else None
        super().__init__(
            in_channels=in_channels,
            channels=channels or num_classes,
            num_classes=num_classes,
            in_index=list(in_index),
            input_transform="multiple_select",
            dropout_ratio=dropout_ratio,
            **kwargs,
        )
        self.module = FCNDecoder(
            num_classes,
            variant,
            in_channels,
            mode=mode,
            at_once=at_once,
            learn_final_upsample=learn_final_upsample,
            learn_intermediate_upsample=learn_intermediate_upsample,
        )

    def forward(self, inputs, img_size=None):
        return self.module(self._transform_inputs(inputs), img_size)

    def loss(self, inputs, batch_data_samples, train_cfg) -> dict:
        size = batch_data_samples[0].gt_sem_seg.data.shape[-2:]
        return self.loss_by_feat(self.forward(inputs, size), batch_data_samples)

    def predict(self, inputs, batch_img_metas: List[dict], test_cfg) -> torch.Tensor:
        logits = self.forward(inputs, network_input_size(batch_img_metas))
        return self.predict_by_feat(logits, batch_img_metas)
