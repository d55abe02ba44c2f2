"""mmseg loss: cross-entropy with per-class weights that tolerates ``ignore_index`` pixels.

Needed for SegNet's median frequency balancing (Badrinarayanan et al., TPAMI 2017, Sec. 3.2):
mmseg 1.2.2's ``CrossEntropyLoss(class_weight=...)`` computes its average factor with
``class_weight[cls] for cls in label`` (``mmseg/models/losses/cross_entropy_loss.py``), which
raises ``IndexError: index 255 is out of bounds`` as soon as a label map contains the ignore
value -- i.e. on every CamVid batch (void pixels). This loss is PyTorch's
``F.cross_entropy(weight=..., ignore_index=...)``: the weighted sum over labelled pixels
divided by the sum of their weights (the normalisation mmseg's code intends).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import nn


@MODELS.register_module()
class ClassWeightedCrossEntropyLoss(nn.Module):
    """Soft-max cross-entropy with class weights (median frequency balancing).

    Args:
        class_weight: one weight per class (e.g. from ``python -m segclassics.tools.analysis.class_weights``);
            ``None`` = unweighted.
        loss_weight: multiplier.
        loss_name: key in the loss dict (``'loss_ce'``, like mmseg's ``CrossEntropyLoss``).

    ``forward(cls_score (N, C, H, W), label (N, H, W), weight=None, ignore_index=255)``;
    ``weight`` (per-pixel, from a sampler) multiplies the per-pixel losses before the
    weighted mean.
    """

    def __init__(
        self, class_weight: Optional[Sequence[float]] = None, loss_weight: float = 1.0, loss_name: str = "loss_ce"
    ):
        super().__init__()
        self.class_weight = None if class_weight is None else [float(w) for w in class_weight]
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(
        self,
        cls_score: torch.Tensor,
        label: torch.Tensor,
        weight: Optional[torch.Tensor] = None,
        ignore_index: int = 255,
        **kwargs,
    ) -> torch.Tensor:
        cw = None
        if self.class_weight is not None:
            if len(self.class_weight) != cls_score.shape[1]:
                raise ValueError(
                    f"class_weight has {len(self.class_weight)} entries but the head predicts "
                    f"{cls_score.shape[1]} classes"
                )
            cw = cls_score.new_tensor(self.class_weight, dtype=torch.float32)
        logits = cls_score.float()
        if weight is None:
            return self.loss_weight * F.cross_entropy(logits, label, weight=cw, ignore_index=ignore_index)
        per_pixel = F.cross_entropy(logits, label, weight=cw, ignore_index=ignore_index, reduction="none")
        valid = label != ignore_index
        norm = cw[label.clamp(0, logits.shape[1] - 1)] if cw is not None else torch.ones_like(per_pixel)
        norm = (norm * valid * weight).sum().clamp_min(1e-12)
        return self.loss_weight * (per_pixel * weight).sum() / norm

    @property
    def loss_name(self) -> str:
        return self._loss_name
