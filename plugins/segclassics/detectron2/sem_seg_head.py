"""Base class for detectron2 semantic-segmentation heads whose computation is a plain
torch module from ``segclassics.models``.

detectron2's ``SemanticSegmentor`` calls ``sem_seg_head(features, targets)`` and expects
``(None, {"loss_sem_seg": ...})`` in training and ``(logits, {})`` at inference, with logits
at the (padded) input resolution; it then crops and resizes them itself. This base does the
feature selection, the resizing of lower-resolution logits and the cross-entropy with
``ignore_value``, so each registered head only builds its module.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class TorchModuleSemSegHead(nn.Module):
    """``forward(features, targets)`` in detectron2's sem-seg-head convention.

    Args:
        module: maps the list ``[features[name] for name in in_features]`` to logits
            ``(N, num_classes, h, w)``.
        in_features: backbone output names the module consumes, in order.
        ignore_value: label value excluded from the loss (detectron2's ``IGNORE_VALUE``).
        loss_weight: multiplier on the loss.
        class_weights: optional per-class loss weights (e.g. SegNet's median-frequency
            balancing).
        common_stride: stride of the logits relative to the input; 1 for heads that upsample
            to full resolution themselves.
        loss_reduction: ``'mean'`` over non-ignored pixels (detectron2's usual) or ``'sum'``
            (Caffe's ``SoftmaxWithLoss(normalize=False)``, FCN's reference recipe, PAMI 2017
            Sec. 4.3, which pairs it with a tiny learning rate such as 1e-10).
    """

    def __init__(self, module: nn.Module, in_features: Sequence[str], *, ignore_value: int = 255,
                 loss_weight: float = 1.0, class_weights: Optional[Sequence[float]] = None,
                 common_stride: int = 1, loss_reduction: str = "mean"):
        super().__init__()
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}")
        self.loss_reduction = loss_reduction
        self.module = module
        self.in_features = list(in_features)
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight
        self.common_stride = common_stride
        if class_weights is not None:
            self.register_buffer("class_weights", torch.tensor(class_weights, dtype=torch.float32), persistent=False)
        else:
            self.class_weights = None

    def layers(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.module([features[name] for name in self.in_features])

    def forward(self, features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor] = None):
        logits = self.layers(features)
        size = next(iter(features.values())).shape[-2:] if targets is None else targets.shape[-2:]
        if targets is None and self.common_stride != 1:
            size = (logits.shape[-2] * self.common_stride, logits.shape[-1] * self.common_stride)
        if tuple(logits.shape[-2:]) != tuple(size) and (targets is not None or self.common_stride != 1):
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        if self.training:
            return None, self.losses(logits, targets)
        return logits, {}

    def losses(self, logits: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        weight = self.class_weights.to(logits.dtype) if self.class_weights is not None else None
        loss = F.cross_entropy(logits.float(), targets, weight=weight, ignore_index=self.ignore_value,
                               reduction=self.loss_reduction)
        return {"loss_sem_seg": loss * self.loss_weight}


def select_shapes(input_shape, in_features: List[str]):
    """The ``ShapeSpec`` of each named feature, in order (for ``from_config``)."""
    return [input_shape[name] for name in in_features]
