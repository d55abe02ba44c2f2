"""Base class for detectron2 semantic-segmentation heads whose computation is a plain
torch module from ``segclassics.models``.

detectron2's ``SemanticSegmentor`` calls ``sem_seg_head(features, targets)`` and expects
``(None, {"loss_sem_seg": ...})`` in training and ``(logits, {})`` at inference, with logits
at the (padded) input resolution; it then crops and resizes them itself. This base does the
feature selection, the resizing of lower-resolution logits and the cross-entropy with
``ignore_value`` (also for auxiliary heads), so each registered head only builds its module
and, where its paper says so, overrides the :meth:`~TorchModuleSemSegHead.layers` or
:meth:`~TorchModuleSemSegHead.align` hook.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn


class TorchModuleSemSegHead(nn.Module):
    """``forward(features, targets)`` in detectron2's sem-seg-head convention.

    Subclasses change behaviour through two hooks, never ``forward``:

    * :meth:`layers` computes the logits (``(N, K, h, w)``) from the feature dict -- in training
      optionally ``(logits, [aux_logits, ...])`` for auxiliary losses;
    * :meth:`align` brings logits and targets onto one grid for the loss (default: bilinear
      resizing of the logits to the targets).

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
        aux_weight: multiplier on the summed auxiliary losses (``loss_sem_seg_aux``).
    """

    def __init__(
        self,
        module: nn.Module,
        in_features: Sequence[str],
        *,
        ignore_value: int = 255,
        loss_weight: float = 1.0,
        class_weights: Optional[Sequence[float]] = None,
        common_stride: int = 1,
        loss_reduction: str = "mean",
        aux_weight: float = 0.0,
    ):
        super().__init__()
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}")
        self.loss_reduction = loss_reduction
        self.module = module
        self.in_features = list(in_features)
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight
        self.aux_weight = aux_weight
        self.common_stride = common_stride
        if class_weights is not None:
            self.register_buffer("class_weights", torch.tensor(class_weights, dtype=torch.float32), persistent=False)
        else:
            self.class_weights = None

    def layers(self, features: Dict[str, torch.Tensor], out_size: Optional[Sequence[int]] = None):
        """Logits for ``features``; ``out_size`` is the target size in training (None at inference)."""
        return self.module([features[name] for name in self.in_features])

    def align(self, logits: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits and targets on one grid for the loss: resize the logits to the targets."""
        if tuple(logits.shape[-2:]) != tuple(targets.shape[-2:]):
            logits = F.interpolate(logits, size=targets.shape[-2:], mode="bilinear", align_corners=False)
        return logits, targets

    def forward(self, features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor] = None):
        out = self.layers(features, None if targets is None else tuple(targets.shape[-2:]))
        logits, aux = (out, []) if torch.is_tensor(out) else (out[0], list(out[1]))
        if self.training:
            if targets is None:
                raise ValueError(f"{type(self).__name__} needs targets in training")
            return None, self.losses(logits, targets, aux)
        if self.common_stride != 1:
            size = (logits.shape[-2] * self.common_stride, logits.shape[-1] * self.common_stride)
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits, {}

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy with ``class_weights``, ``ignore_value`` and ``loss_reduction``."""
        weight = self.class_weights.to(logits.dtype) if self.class_weights is not None else None
        return F.cross_entropy(
            logits.float(), targets, weight=weight, ignore_index=self.ignore_value, reduction=self.loss_reduction
        )

    def losses(
        self, logits: torch.Tensor, targets: torch.Tensor, aux_logits: Sequence[torch.Tensor] = ()
    ) -> Dict[str, torch.Tensor]:
        out = {"loss_sem_seg": self.loss(*self.align(logits, targets)) * self.loss_weight}
        if len(aux_logits):
            out["loss_sem_seg_aux"] = sum(self.loss(*self.align(a, targets)) for a in aux_logits) * self.aux_weight
        return out


def sem_seg_head_options(cfg) -> dict:
    """The loss keywords every head takes from detectron2's own ``MODEL.SEM_SEG_HEAD`` node:
    ``num_classes``, ``ignore_value``, ``loss_weight`` (for ``from_config``)."""
    h = cfg.MODEL.SEM_SEG_HEAD
    return dict(num_classes=h.NUM_CLASSES, ignore_value=h.IGNORE_VALUE, loss_weight=h.LOSS_WEIGHT)


def select_shapes(input_shape, in_features: List[str]):
    """The ``ShapeSpec`` of each named feature, in order (for ``from_config``)."""
    return [input_shape[name] for name in in_features]
