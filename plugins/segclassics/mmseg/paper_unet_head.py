"""``PaperUNetHead``: the expansive path of Ronneberger et al. 2015 (Sec. 2) as an mmseg decode head,
with centre-cropped labels for the valid network and the paper's pixel-wise loss weights (Sec. 3)."""

from __future__ import annotations

import torch
from mmseg.registry import MODELS
from mmseg.utils import SampleList

from ..models.unet import UNetDecoder, check_labels, crop_labels_or_resize_logits, init_unet_weights, unet_channels
from .torch_decode_head import TorchModuleDecodeHead, network_input_size, pixel_accuracy


@MODELS.register_module()
class PaperUNetHead(TorchModuleDecodeHead):
    """UNet expansive path + 1x1 classifier (Ronneberger et al., MICCAI 2015, Sec. 2, Fig. 1 right).

    Args:
        in_channels: the encoder's channels, finest first (``base * 2**i``, i < depth).
        channels: required by ``BaseDecodeHead``; defaults to ``base_channels`` (the channels
            before the classifier).
        num_classes: classes (2 for binary with a softmax; with ``out_channels=1`` and a
            ``threshold`` mmseg's sigmoid binary mode with a ``use_sigmoid=True`` loss).
        base_channels, depth, padding, norm: as ``PaperUNetEncoder``.
        weight_key: the data sample field holding the paper's weight map ``w(x)`` (Eq. 2;
            made by the ``UNetWeightMap`` transform and ``PackSegInputsWithWeight``). When present
            it multiplies the per-pixel cross-entropy; other losses (e.g. Dice) ignore it.
        **kwargs: ``BaseDecodeHead`` arguments (``loss_decode``, ``ignore_index``, ``out_channels``,
            ``threshold``, ...).

    Shapes: the encoder's tuple -> ``(N, out_channels, h, w)`` with ``(h, w)`` the valid output
    size (``'valid'``: smaller than the input, 572 -> 388; ``'same'``: the input size). In
    training, labels (and weight maps) are centre-cropped to ``(h, w)`` -- the paper's output
    tile is the centre of the input tile -- instead of resizing the logits.
    """

    def __init__(
        self,
        in_channels=(64, 128, 256, 512, 1024),
        channels=None,
        *,
        num_classes: int,
        base_channels: int = 64,
        depth: int = 5,
        padding: str = "valid",
        norm=None,
        weight_key: str = "gt_weight_map",
        **kwargs,
    ):
        expected = unet_channels(base_channels, depth)
        if list(in_channels) != expected:
            raise ValueError(
                f"PaperUNetHead in_channels {list(in_channels)} do not match base_channels="
                f"{base_channels}, depth={depth}: expected {expected}"
            )
        kwargs.setdefault("input_transform", "multiple_select")
        kwargs.setdefault("in_index", list(range(depth)))
        kwargs.setdefault("dropout_ratio", 0.0)
        super().__init__(
            in_channels=list(in_channels), channels=channels or base_channels, num_classes=num_classes, **kwargs
        )
        self.padding = padding
        self.weight_key = weight_key
        self.module = UNetDecoder(self.out_channels, base_channels, depth, padding, norm)
        init_unet_weights(self.module)

    def loss_by_feat(self, seg_logits: torch.Tensor, batch_data_samples: SampleList) -> dict:
        seg_label = self._stack_batch_gt(batch_data_samples)
        check_labels(seg_label, self.out_channels if self.out_channels > 1 else 1, self.ignore_index)
        if any(self.weight_key in s for s in batch_data_samples):
            if not all(self.weight_key in s for s in batch_data_samples):
                raise ValueError(f"only some samples of the batch carry {self.weight_key!r}")
            seg_weight = torch.stack([s.get(self.weight_key).data for s in batch_data_samples]).float()
            if seg_weight.shape != seg_label.shape:
                raise ValueError(
                    f"weight map shape {tuple(seg_weight.shape)} != label shape "
                    f"{tuple(seg_label.shape)}; compute UNetWeightMap after every resize/pad "
                    "transform that changes the label size, and do not let the data "
                    "preprocessor pad labels (size/size_divisor=None)"
                )
        else:
            seg_weight = None
        # valid net: the output is the centre of the input tile (paper Fig. 2)
        seg_logits, seg_label, seg_weight = crop_labels_or_resize_logits(
            seg_logits, seg_label, seg_weight, self.align_corners
        )
        seg_label = seg_label.squeeze(1)
        seg_weight = None if seg_weight is None else seg_weight.squeeze(1)
        losses_decode = self.loss_decode if isinstance(self.loss_decode, torch.nn.ModuleList) else [self.loss_decode]
        loss = dict()
        for loss_decode in losses_decode:
            pixel_weight = seg_weight if type(loss_decode).__name__ == "CrossEntropyLoss" else None
            value = loss_decode(seg_logits, seg_label, weight=pixel_weight, ignore_index=self.ignore_index)
            loss[loss_decode.loss_name] = loss.get(loss_decode.loss_name, 0) + value
        if self.out_channels > 1:
            loss["acc_seg"] = pixel_accuracy(seg_logits, seg_label, self.ignore_index)
        return loss

    def predict_by_feat(self, seg_logits, batch_img_metas):
        size = network_input_size(batch_img_metas)
        if self.padding == "valid" and tuple(seg_logits.shape[-2:]) != tuple(size):
            raise ValueError(
                f"the valid UNet maps a {tuple(size)} input to {tuple(seg_logits.shape[-2:])} outputs; resizing would "
                "misalign them. Use model type='OverlapTileEncoderDecoder' with test_cfg=dict(mode='overlap_tile', "
                "tile_size=...) for full-size predictions (paper Fig. 2)."
            )
        return super().predict_by_feat(seg_logits, batch_img_metas)
