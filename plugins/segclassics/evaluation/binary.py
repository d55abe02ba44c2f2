"""Binary segmentation metrics (numpy), for the UNet benchmarks (Ronneberger et al. 2015, Sec. 4).

* ISBI 2012 EM segmentation challenge: *pixel error* (here 1 - pixel accuracy; the challenge defines
  it as 1 - the maximal F-score of pixel similarity over thresholds of a probability map, which at a
  binary prediction is 1 - the Dice of the cells: ``BinarySegMetric``'s ``pixel_error_fscore``), *Rand error*
  (1 - foreground-restricted Rand F-score of the cell regions, Arganda-Carreras et al. 2015,
  the challenge's ``V_rand``) and *warping error* (the pixel error left after the ground truth is
  warped onto the prediction by topology-preserving flips; Jain et al. 2010). Paper: pixel error
  0.0611, Rand error 0.0382, warping error 0.000353 on the test set.
* DRIVE vessels: Dice (= F1) of the vessel class and accuracy, inside the field of view (FOV).

:class:`BinaryConfusion` accumulates counts over images, so dataset-level Dice is computed from
summed counts (as mmseg's ``IoUMetric`` does), not averaged per image. mmseg and detectron2
evaluators call these functions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np
from scipy import ndimage


def _as_bool(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == bool:
        return a
    vals = np.unique(a)
    if not np.isin(vals, (0, 1)).all():
        raise ValueError(
            f"{name} must be binary 0/1 (or bool), found values {vals[:10].tolist()}; "
            f"threshold probabilities or map classes to 0/1 first"
        )
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
        return dict(
            dice=self.dice(),
            accuracy=self.accuracy(),
            pixel_error=self.pixel_error(),
            precision=self.precision(),
            recall=self.recall(),
            specificity=self.specificity(),
            iou=self.iou(),
        )


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


# Bit ``k`` of a 3x3 neighbourhood code is the pixel at offset NEIGHBOUR_OFFSETS[k] (row-major; bit 4
# is the centre).
NEIGHBOUR_OFFSETS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
_CELL = ndimage.generate_binary_structure(2, 1)  # cells (foreground): 4-adjacency
_MEMBRANE = ndimage.generate_binary_structure(2, 2)  # membrane (background): 8-adjacency


def neighbourhood(code: int) -> np.ndarray:
    """The 3x3 bool patch whose pixels are the bits of ``code`` (see ``NEIGHBOUR_OFFSETS``)."""
    return ((int(code) >> np.arange(9)) & 1).astype(bool).reshape(3, 3)


@functools.lru_cache(maxsize=None)
def simple_point_table() -> np.ndarray:
    """``table[code]``: is the centre of the 3x3 neighbourhood ``code`` a *simple point*, one whose
    flip changes no topology, with cells (True) 4-adjacent and membrane (False) 8-adjacent?

    Bertrand & Malandain's topological numbers (Pattern Recogn. Lett. 1994): the centre is simple iff
    the cell pixels among its 8 neighbours form exactly one 4-component that touches a 4-neighbour of
    the centre, and the membrane pixels among them exactly one 8-component. Neither number looks at
    the centre, so flipping either way (cell -> membrane or back) is simple for the same neighbours:
    232 of the 512 codes. The ISBI 2012 challenge's script (Fiji's ``WarpingError``) tests the patch
    embedded in 3-D with 6-adjacent cells; that test gives the same answer for every code.
    """
    table = np.zeros(512, dtype=bool)
    for code in range(512):
        ring = neighbourhood(code)
        ring[1, 1] = False
        cells, _ = ndimage.label(ring, _CELL)
        touching = {cells[0, 1], cells[1, 0], cells[1, 2], cells[2, 1]} - {0}
        membrane = ~neighbourhood(code)
        membrane[1, 1] = False
        table[code] = len(touching) == 1 and ndimage.label(membrane, _MEMBRANE)[1] == 1
    table.setflags(write=False)
    return table


def topology_preserving_warp(source, target) -> np.ndarray:
    """Warp the binary map ``source`` towards ``target`` by flipping, one at a time, pixels where they
    disagree that are simple points of the current map (``simple_point_table``), until no disagreeing
    pixel can flip. This greedy descent stands for the best warping of Jain et al. (CVPR 2010), as in
    the ISBI 2012 challenge's script. The result has the topology of ``source`` (its 4-connected cells
    and 8-connected membrane, holes included) and agrees with ``target`` wherever such flips could
    make it. Pixels outside the image count as membrane, as in that script.

    Order: which flips are possible can depend on the order. The challenge's script, with a binary
    prediction, scans the disagreeing pixels column by column. Here each pass visits the 9 sub-lattices
    ``(y % 3, x % 3)`` in row-major order; the pixels of one sub-lattice never lie in each other's 3x3
    neighbourhood, so flipping them at once equals flipping them one after another. Passes repeat
    until one flips nothing. Deterministic: the same inputs give the same map.
    """
    src, tgt = _as_bool(source, "source"), _as_bool(target, "target")
    if src.ndim != 2 or src.shape != tgt.shape:
        raise ValueError(f"warping needs two 2-D maps of one shape, got {src.shape} and {tgt.shape}")
    h, w = src.shape
    padded = np.zeros((h + 2, w + 2), dtype=bool)  # a membrane frame: no neighbour lies outside
    padded[1:-1, 1:-1] = src
    goal = np.zeros_like(padded)
    goal[1:-1, 1:-1] = tgt
    flat, table = padded.ravel(), simple_point_table()
    offsets = np.array([dy * (w + 2) + dx for dy, dx in NEIGHBOUR_OFFSETS])
    bits = np.left_shift(1, np.arange(9)).astype(np.int16)
    # a pixel disagrees until it is flipped (the goal is fixed), so one search for disagreements
    # serves every pass
    wrong = np.flatnonzero(flat != goal.ravel())
    while wrong.size:
        lattice = (wrong // (w + 2) - 1) % 3 * 3 + (wrong % (w + 2) - 1) % 3
        kept = []
        for k in range(9):
            idx = wrong[lattice == k]
            codes = (flat[idx[:, None] + offsets] * bits).sum(1)
            simple = table[codes]
            flat[idx[simple]] ^= True
            kept.append(idx[~simple])
        still = np.concatenate(kept)
        if still.size == wrong.size:
            break
        wrong = still
    return padded[1:-1, 1:-1].copy()


def warping_error(pred_fg, target_fg, mask=None) -> float:
    """ISBI 2012 warping error (Jain et al. 2010; Arganda-Carreras et al. 2015): the fraction of
    (masked) pixels where the prediction still differs from the ground truth after the ground truth
    is warped towards the prediction by ``topology_preserving_warp``. Disagreements a smooth
    deformation explains (a boundary a pixel off, a bump) warp away; splits, mergers, missing or
    extra cells and holes remain, so the error counts topological mistakes.

    ``pred_fg``/``target_fg``: binary cell-interior maps (ISBI class 1, 255 in the label files), the
    convention of ``rand_error_binary``: cells 4-connected, membrane 8-connected, as in the challenge's
    script. Outside ``mask`` both maps are taken as membrane and nothing is counted; the error is
    divided by the number of masked pixels (NaN when there are none).
    """
    m = _mask(pred_fg, target_fg, mask)
    if not m.any():
        return float("nan")
    pred = _as_bool(pred_fg, "pred") & m
    warped = topology_preserving_warp(_as_bool(target_fg, "target") & m, pred)
    return np.count_nonzero(warped != pred) / np.count_nonzero(m)


@dataclass
class BinarySegAccumulator:
    """Dataset-level binary metrics: summed confusion (Dice, accuracy, pixel error) plus the
    per-image mean Rand error (when ``rand=True``) and warping error (when ``warping=True``)."""

    rand: bool = False
    warping: bool = False
    confusion: BinaryConfusion = field(default_factory=BinaryConfusion)
    rand_errors: List[float] = field(default_factory=list)
    warping_errors: List[float] = field(default_factory=list)
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
        if self.warping:
            self.warping_errors.append(warping_error(pred, target, mask))

    def compute(self) -> Dict[str, float]:
        res = self.confusion.as_dict()
        res["mean_image_dice"] = float(np.mean(self.per_image_dice)) if self.per_image_dice else float("nan")
        if self.rand:
            res["rand_error"] = float(np.mean(self.rand_errors)) if self.rand_errors else float("nan")
        if self.warping:
            res["warping_error"] = float(np.mean(self.warping_errors)) if self.warping_errors else float("nan")
        return res
