"""Binary segmentation metrics (numpy), for the UNet benchmarks (Ronneberger et al. 2015, Sec. 4).

* ISBI 2012 EM segmentation challenge: *pixel error* (1 - pixel accuracy) and *Rand error*
  (1 - foreground-restricted Rand F-score of the cell regions, Arganda-Carreras et al. 2015,
  the challenge's ``V_rand``). Paper: pixel error 0.0611, Rand error 0.0382 on the test set.
* DRIVE vessels: Dice (= F1) of the vessel class and accuracy, inside the field of view (FOV).

:class:`BinaryConfusion` accumulates counts over images, so dataset-level Dice is computed from
summed counts (as mmseg's ``IoUMetric`` does), not averaged per image. mmseg and detectron2
evaluators call these functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
from scipy import ndimage


def _as_bool(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        return a
    vals = np.unique(a)
    if not np.isin(vals, (0, 1)).all():
        raise ValueError(f"{name} must be binary 0/1 (or bool), found values {vals[:10].tolist()}; "
                         f"threshold probabilities or map classes to 0/1 first")
    return a.astype(bool)


def _mask(pred, target, mask) -> np.ndarray:
    if np.shape(pred) != np.shape(target):
        raise ValueError(f"prediction shape {np.shape(pred)} != target shape {np.shape(target)}")
    if mask is None:
        return np.ones(np.shape(target), dtype=bool)
    if np.shape(mask) != np.shape(target):
        raise ValueError(f"mask shape {np.shape(mask)} != target shape {np.shape(target)}")
    return np.asarray(mask).astype(bool)


@dataclass
class BinaryConfusion:
    """Counts of true/false positives/negatives of the positive class, accumulated over images."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def update(self, pred, target, mask=None) -> "BinaryConfusion":
        m = _mask(pred, target, mask)
        p, t = _as_bool(pred, "pred")[m], _as_bool(target, "target")[m]
        self.tp += int(np.count_nonzero(p & t))
        self.fp += int(np.count_nonzero(p & ~t))
        self.fn += int(np.count_nonzero(~p & t))
        self.tn += int(np.count_nonzero(~p & ~t))
        return self

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def dice(self) -> float:
        """``2 TP / (2 TP + FP + FN)`` (= F1); 1.0 when both prediction and target are empty."""
        den = 2 * self.tp + self.fp + self.fn
        return 1.0 if den == 0 else 2 * self.tp / den

    f1 = dice

    def accuracy(self) -> float:
        return float("nan") if self.total == 0 else (self.tp + self.tn) / self.total

    def pixel_error(self) -> float:
        return float("nan") if self.total == 0 else (self.fp + self.fn) / self.total

    def precision(self) -> float:
        return 1.0 if self.tp + self.fp == 0 else self.tp / (self.tp + self.fp)

    def recall(self) -> float:
        """Sensitivity (true-positive rate)."""
        return 1.0 if self.tp + self.fn == 0 else self.tp / (self.tp + self.fn)

    def specificity(self) -> float:
        return 1.0 if self.tn + self.fp == 0 else self.tn / (self.tn + self.fp)

    def iou(self) -> float:
        den = self.tp + self.fp + self.fn
        return 1.0 if den == 0 else self.tp / den

    def as_dict(self) -> Dict[str, float]:
        return dict(dice=self.dice(), accuracy=self.accuracy(), pixel_error=self.pixel_error(),
                    precision=self.precision(), recall=self.recall(), specificity=self.specificity(),
                    iou=self.iou())


def dice_score(pred, target, mask=None) -> float:
    """Dice / F1 of the positive class of binary ``pred`` vs ``target`` (inside ``mask``)."""
    return BinaryConfusion().update(pred, target, mask).dice()


def pixel_error(pred, target, mask=None) -> float:
    """Fraction of (masked) pixels where the binary prediction differs from the target."""
    return BinaryConfusion().update(pred, target, mask).pixel_error()


def accuracy(pred, target, mask=None) -> float:
    return BinaryConfusion().update(pred, target, mask).accuracy()


def rand_scores(seg_true: np.ndarray, seg_pred: np.ndarray, ignore_true=(0,)) -> Dict[str, float]:
    """Foreground-restricted Rand scores of two segmentations (integer region ids).

    Pixels whose ``seg_true`` id is in ``ignore_true`` (the membrane/background) are left out, as in
    the ISBI 2012 challenge (Arganda-Carreras et al. 2015). With the contingency table ``p_ij``
    (fraction of pixels in true region ``i`` and predicted region ``j``), ``s_i = sum_j p_ij``
    (true marginal), ``t_j = sum_i p_ij`` (predicted marginal): split score ``sum p_ij^2 /
    sum s_i^2`` (1 when no true region is split), merge score ``sum p_ij^2 / sum t_j^2`` (1 when no
    predicted region merges true ones), ``V_rand`` their harmonic mean, Rand error ``1 - V_rand``.
    """
    a = np.asarray(seg_true).ravel()
    b = np.asarray(seg_pred).ravel()
    if a.shape != b.shape:
        raise ValueError(f"segmentations differ in size: {np.shape(seg_true)} vs {np.shape(seg_pred)}")
    keep = ~np.isin(a, ignore_true)
    a, b = a[keep].astype(np.int64), b[keep].astype(np.int64)
    n = a.size
    if n == 0:
        return dict(rand_error=0.0, rand_split=1.0, rand_merge=1.0)
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    pair = ai * (bi.max() + 1) + bi
    pij = np.unique(pair, return_counts=True)[1].astype(np.float64) / n
    si = np.bincount(ai).astype(np.float64) / n
    tj = np.bincount(bi).astype(np.float64) / n
    sum_p2 = np.square(pij).sum()
    split = sum_p2 / np.square(si).sum()
    merge = sum_p2 / np.square(tj).sum()
    v = 2 * split * merge / (split + merge)
    return dict(rand_error=1.0 - v, rand_split=split, rand_merge=merge)


def rand_error_binary(pred_fg, target_fg, connectivity: int = 1) -> float:
    """ISBI Rand error from binary cell-interior maps: regions are the connected components of
    the foreground (cell interior); true background (membrane) pixels are left out; predicted
    membrane pixels form region 0 (merged with nothing, as in the challenge's scripts)."""
    structure = ndimage.generate_binary_structure(2, connectivity)
    t, _ = ndimage.label(_as_bool(target_fg, "target"), structure)
    p, _ = ndimage.label(_as_bool(pred_fg, "pred"), structure)
    return rand_scores(t, p, ignore_true=(0,))["rand_error"]


@dataclass
class BinarySegAccumulator:
    """Dataset-level binary metrics: summed confusion (Dice, accuracy, pixel error) plus the
    per-image mean Rand error (when ``rand=True``)."""

    rand: bool = False
    confusion: BinaryConfusion = field(default_factory=BinaryConfusion)
    rand_errors: List[float] = field(default_factory=list)
    per_image_dice: List[float] = field(default_factory=list)

    def update(self, pred, target, mask=None) -> None:
        c = BinaryConfusion().update(pred, target, mask)
        self.per_image_dice.append(c.dice())
        for k in ("tp", "fp", "fn", "tn"):
            setattr(self.confusion, k, getattr(self.confusion, k) + getattr(c, k))
        if self.rand:
            m = _mask(pred, target, mask)
            p = _as_bool(pred, "pred") & m
            t = _as_bool(target, "target") & m
            self.rand_errors.append(rand_error_binary(p, t))

    def compute(self) -> Dict[str, float]:
        res = self.confusion.as_dict()
        res["mean_image_dice"] = float(np.mean(self.per_image_dice)) if self.per_image_dice else float("nan")
        if self.rand:
            res["rand_error"] = float(np.mean(self.rand_errors)) if self.rand_errors else float("nan")
        return res


def binarize(pred: np.ndarray, positive: int = 1, threshold: Optional[float] = None) -> np.ndarray:
    """Class map -> bool map of ``positive``; or probabilities -> ``pred > threshold``."""
    pred = np.asarray(pred)
    return pred > threshold if threshold is not None else pred == positive
