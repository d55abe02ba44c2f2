"""Base class for mmseg decode heads whose computation is a plain torch module.

mmseg's ``BaseDecodeHead`` always builds a 1x1 ``conv_seg`` classifier on ``channels``.
Our heads (FCN skip fusion, UNet/SegNet decoders, SETR decoders) classify inside their own
``segclassics.models`` module, so that layer would be an unused parameter, which breaks
DDP (``find_unused_parameters``) and wastes memory. This base removes it and leaves the
losses, sampling, ``ignore_index``, ``_transform_inputs`` and prediction resizing to mmseg.
Subclasses set ``self.module`` and, if needed, override :meth:`forward`.

:meth:`TorchModuleDecodeHead.loss_by_feat` is mmseg's, with two changes that leave the losses
unchanged: the logged ``acc_seg`` is computed with an argmax instead of mmseg's ``accuracy``,
whose ``topk`` over the class dimension of full-resolution logits took a third of a SETR ViT-L
training step on an H200 (5 heads x 150 classes x 512 x 512; ``dev/gpu_check`` profile,
docs/gpu.md); and logits are resized with :func:`segclassics.models.setr_heads.upsample_bilinear`,
which splits batches whose output would pass CUDA's 2**31-element limit.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize

from segclassics.models.setr_heads import upsample_bilinear


def pixel_accuracy(seg_logits: torch.Tensor, seg_label: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Top-1 pixel accuracy in %, shape ``(1,)``: mmseg's ``accuracy(topk=1)`` (same ``eps``
    terms) with an argmax. ``seg_logits`` ``(B, C, H, W)``, ``seg_label`` ``(B, H, W)``."""
    eps = torch.finfo(torch.float32).eps
    valid = seg_label != ignore_index
    correct = (seg_logits.argmax(1) == seg_label) & valid
    return (correct.sum().float().reshape(1) + eps) * (100.0 / (int(valid.sum()) + eps))


def network_input_size(batch_img_metas: List[dict]) -> Tuple[int, int]:
    """The network input's ``(H, W)`` from mmseg image metas: what ``BaseDecodeHead.predict_by_feat``
    resizes logits to, except that a ``pad_shape`` of ``None`` falls back to ``img_shape``.

    A ``torch.Size`` ``img_shape`` is the crop of slide inference; otherwise ``pad_shape`` (the
    batch-padded input) when set, else ``img_shape``. Only the first meta is read: mmseg pads a
    batch to one size. Sizes stay as given (no ``int()``), so ``torch.export`` keeps a traced
    input's height and width dynamic.
    """
    meta = batch_img_metas[0]
    if isinstance(meta["img_shape"], torch.Size):  # slide inference: the crop's (H, W)
        return tuple(meta["img_shape"][-2:])
    if meta.get("pad_shape") is not None:
        return tuple(meta["pad_shape"][:2])
    return tuple(meta["img_shape"][:2])


class TorchModuleDecodeHead(BaseDecodeHead):
    """A ``BaseDecodeHead`` whose ``forward`` is ``self.module(selected inputs)``.

    Args:
        init_cfg: defaults to ``None``: the wrapped module initialises itself as its paper
            says (e.g. FCN's zero-initialised score layers and bilinear deconvolutions);
            mmseg's default ``Normal(std=0.01)`` on ``conv_seg`` would not apply.
        **kwargs: ``BaseDecodeHead`` arguments (``in_channels``, ``channels``, ``num_classes``,
            ``in_index``, ``input_transform``, ``loss_decode``, ``ignore_index``, ...).
    """

    def __init__(self, *, init_cfg=None, **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        del self.conv_seg  # see module docstring

    def cls_seg(self, feat):  # pragma: no cover - the wrapped module classifies
        raise RuntimeError(f"{type(self).__name__} classifies inside self.module; cls_seg is not used")

    def forward(self, inputs):
        return self.module(self._transform_inputs(inputs))

    def loss_by_feat(self, seg_logits: torch.Tensor, batch_data_samples) -> dict:
        seg_label = self._stack_batch_gt(batch_data_samples)
        if tuple(seg_logits.shape[-2:]) != tuple(seg_label.shape[-2:]):
            seg_logits = upsample_bilinear(seg_logits, size=seg_label.shape[2:], align_corners=self.align_corners)
        seg_weight = self.sampler.sample(seg_logits, seg_label) if self.sampler is not None else None
        seg_label = seg_label.squeeze(1)
        losses_decode = self.loss_decode if isinstance(self.loss_decode, torch.nn.ModuleList) else [self.loss_decode]
        loss = dict()
        for loss_decode in losses_decode:
            value = loss_decode(seg_logits, seg_label, weight=seg_weight, ignore_index=self.ignore_index)
            loss[loss_decode.loss_name] = (
                loss[loss_decode.loss_name] + value if loss_decode.loss_name in loss else value
            )
        loss["acc_seg"] = pixel_accuracy(seg_logits, seg_label, self.ignore_index)
        return loss

    def predict_by_feat(self, seg_logits: torch.Tensor, batch_img_metas: List[dict]) -> torch.Tensor:
        """mmseg's: resize the logits to :func:`network_input_size` (bilinear, ``align_corners``)."""
        return resize(
            seg_logits, size=network_input_size(batch_img_metas), mode="bilinear", align_corners=self.align_corners
        )
