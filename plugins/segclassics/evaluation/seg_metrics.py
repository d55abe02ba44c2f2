"""The SegNet paper's semantic-segmentation metrics, framework-free (numpy + scipy).

Badrinarayanan, Kendall, Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder
Architecture for Image Segmentation", TPAMI 2017, reports on a test set (Sec. 3-4):

* **global accuracy (G)**: correctly classified pixels / all labelled pixels of the set;
* **class average accuracy (C)**: the mean over classes of the per-class recall
  ``TP_c / (pixels labelled c)``;
* **mIoU**: the mean over classes of ``TP_c / (TP_c + FP_c + FN_c)``, computed from the
  confusion matrix accumulated over the whole set (as the Pascal VOC benchmark does);
* **boundary F1 (BF)**: Csurka, Larlus, Perronnin, "What is a good evaluation measure for
  semantic segmentation?", BMVC 2013. For every image and every class *present in that
  image's ground truth* the class's predicted and true contours are matched with a distance
  tolerance ``theta`` (SegNet: 0.75 % of the image diagonal); precision = share of predicted
  contour pixels within ``theta`` of a true contour pixel, recall = share of true contour
  pixels within ``theta`` of a predicted one, F1 = 2PR / (P + R). The image score is the mean
  F1 over those classes, and BF is the mean of the image scores over the set (the averaging
  the SegNet paper describes: per image over the classes of its ground truth, then over the
  test set).

Conventions used here (documented because the papers leave them open):

* Pixels whose ground truth is ``ignore_index`` count for nothing: they are removed from the
  confusion matrix, and for BF they belong to no class in *both* maps (so a class region that
  borders a void region has a contour there in both the prediction and the ground truth).
* A contour pixel of a binary mask is a mask pixel with at least one 4-neighbour outside the
  mask. The image border is not a contour (it is the frame, not an object boundary).
* Distances are Euclidean (``scipy.ndimage.distance_transform_edt``); a pixel matches when
  its distance is ``<= theta``.
* Empty contours: if both contours of a class are empty (the class fills every labelled pixel
  in both maps) F1 = 1; if exactly one is empty, the other's precision/recall is 0 and F1 = 0.
* C and mIoU average over classes that occur (C: classes with labelled pixels; mIoU: classes
  with a non-empty union); the per-class arrays hold ``nan`` for the others.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, Optional

import numpy as np

#: SegNet's BF tolerance: 0.75 % of the image diagonal (following Csurka et al.).
BF_TOLERANCE_RATIO = 0.0075


def _check_pair(pred: np.ndarray, gt: np.ndarray, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    where = f" ({name})" if name else ""
    if pred.ndim != 2 or gt.ndim != 2:
        raise ValueError(
            f"prediction and label must be 2-D (H, W) class-index maps{where}; got shapes {pred.shape} and {gt.shape}"
        )
    if pred.shape != gt.shape:
        raise ValueError(
            f"prediction {pred.shape} and label {gt.shape} differ in size{where}; "
            f"resize the prediction to the label's size first"
        )
    return pred.astype(np.int64, copy=False), gt.astype(np.int64, copy=False)


def confusion_matrix(
    pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: Optional[int] = 255, name: str = ""
) -> np.ndarray:
    """``(num_classes, num_classes)`` int64 matrix, rows = ground truth, columns = prediction.

    Pixels with ``gt == ignore_index`` are skipped. Any other label outside
    ``[0, num_classes)`` is an error (it would silently vanish otherwise); predictions
    outside that range are errors too.
    """
    pred, gt = _check_pair(pred, gt, name)
    valid = gt != ignore_index if ignore_index is not None else np.ones_like(gt, dtype=bool)
    g = gt[valid]
    p = pred[valid]
    where = f" in {name}" if name else ""
    if g.size and (g.min() < 0 or g.max() >= num_classes):
        bad = np.unique(g[(g < 0) | (g >= num_classes)])
        raise ValueError(
            f"label values {bad.tolist()[:10]}{where} are outside 0..{num_classes - 1} "
            f"and are not ignore_index={ignore_index}"
        )
    if p.size and (p.min() < 0 or p.max() >= num_classes):
        bad = np.unique(p[(p < 0) | (p >= num_classes)])
        raise ValueError(f"predicted values {bad.tolist()[:10]}{where} are outside 0..{num_classes - 1}")
    return np.bincount(g * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def scores_from_confusion(conf: np.ndarray) -> Dict[str, object]:
    """Global accuracy, class-average accuracy and mIoU (fractions in [0, 1]) plus per-class arrays."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    gt_count = conf.sum(1)
    pred_count = conf.sum(0)
    total = conf.sum()
    union = gt_count + pred_count - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(gt_count > 0, tp / gt_count, np.nan)
        iou = np.where(union > 0, tp / union, np.nan)
    return {
        "global_acc": float(tp.sum() / total) if total > 0 else float("nan"),
        "class_avg_acc": float(np.nanmean(acc)) if np.any(gt_count > 0) else float("nan"),
        "mIoU": float(np.nanmean(iou)) if np.any(union > 0) else float("nan"),
        "class_acc": acc,
        "class_iou": iou,
    }


def mask_contour(mask: np.ndarray) -> np.ndarray:
    """Contour pixels of a boolean mask: mask pixels with a 4-neighbour outside the mask.

    The image border does not count as outside (see the module docstring).
    """
    mask = np.asarray(mask, dtype=bool)
    padded = np.pad(mask, 1, mode="edge")
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def _match_fraction(src: np.ndarray, dst: np.ndarray, theta: float) -> float:
    """Share of ``src`` contour pixels within ``theta`` of a ``dst`` contour pixel."""
    from scipy.ndimage import distance_transform_edt

    n = int(src.sum())
    if n == 0:
        return float("nan")
    if not dst.any():
        return 0.0
    dist = distance_transform_edt(~dst)  # distance of every pixel to the nearest dst pixel
    return float((dist[src] <= theta).sum() / n)


def boundary_f1_per_class(
    pred: np.ndarray,
    gt: np.ndarray,
    num_classes: int,
    ignore_index: Optional[int] = 255,
    tolerance_ratio: float = BF_TOLERANCE_RATIO,
    tolerance_px: Optional[float] = None,
    name: str = "",
) -> np.ndarray:
    """BF of each class for one image; ``nan`` for classes absent from the ground truth.

    Args:
        pred, gt: ``(H, W)`` class-index maps of one image.
        tolerance_ratio: ``theta`` as a fraction of the image diagonal (SegNet: 0.0075).
        tolerance_px: ``theta`` in pixels; overrides ``tolerance_ratio`` when given.
    """
    pred, gt = _check_pair(pred, gt, name)
    h, w = gt.shape
    theta = float(tolerance_px) if tolerance_px is not None else tolerance_ratio * math.hypot(h, w)
    valid = gt != ignore_index if ignore_index is not None else np.ones_like(gt, dtype=bool)
    where = f" in {name}" if name else ""
    g = gt[valid]
    if g.size and (g.min() < 0 or g.max() >= num_classes):
        bad = np.unique(g[(g < 0) | (g >= num_classes)])
        raise ValueError(
            f"label values {bad.tolist()[:10]}{where} are outside 0..{num_classes - 1} "
            f"and are not ignore_index={ignore_index}"
        )
    out = np.full(num_classes, np.nan)
    for c in np.unique(g):
        gt_b = mask_contour((gt == c) & valid)
        pr_b = mask_contour((pred == c) & valid)
        if not gt_b.any() and not pr_b.any():
            out[c] = 1.0
            continue
        precision = _match_fraction(pr_b, gt_b, theta)
        recall = _match_fraction(gt_b, pr_b, theta)
        precision = 0.0 if math.isnan(precision) else precision
        recall = 0.0 if math.isnan(recall) else recall
        out[c] = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return out


def boundary_f1(
    pred: np.ndarray,
    gt: np.ndarray,
    num_classes: int,
    ignore_index: Optional[int] = 255,
    tolerance_ratio: float = BF_TOLERANCE_RATIO,
    tolerance_px: Optional[float] = None,
    name: str = "",
) -> float:
    """The image BF: mean of :func:`boundary_f1_per_class` over the classes in the ground truth
    (``nan`` when the image has no labelled pixel)."""
    per_class = boundary_f1_per_class(pred, gt, num_classes, ignore_index, tolerance_ratio, tolerance_px, name)
    return float(np.nanmean(per_class)) if np.any(~np.isnan(per_class)) else float("nan")


class SegNetMetrics:
    """Accumulates G, C, mIoU and BF over a set of images (SegNet paper, Sec. 3-4).

    >>> m = SegNetMetrics(num_classes=11, ignore_index=255)
    >>> m.update(pred, gt)            # (H, W) int arrays, once per image
    >>> m.compute()                   # dict, values in percent like the paper's tables

    Args:
        num_classes: number of classes (labels ``0..num_classes-1``).
        ignore_index: label value that is not evaluated.
        boundary: also compute BF (the slowest part: one distance transform per class and image).
        tolerance_ratio: BF tolerance as a fraction of the image diagonal.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: Optional[int] = 255,
        boundary: bool = True,
        tolerance_ratio: float = BF_TOLERANCE_RATIO,
    ):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.boundary = boundary
        self.tolerance_ratio = tolerance_ratio
        self.reset()

    def reset(self) -> None:
        self.conf = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.image_bf: list[float] = []

    def update(self, pred: np.ndarray, gt: np.ndarray, name: str = "") -> None:
        self.conf += confusion_matrix(pred, gt, self.num_classes, self.ignore_index, name)
        if self.boundary:
            bf = boundary_f1(pred, gt, self.num_classes, self.ignore_index, self.tolerance_ratio, name=name)
            if not math.isnan(bf):
                self.image_bf.append(bf)

    def merge(self, others: Iterable["SegNetMetrics"]) -> "SegNetMetrics":
        """Add other accumulators' counts (e.g. from other processes) into this one."""
        for o in others:
            self.conf += o.conf
            self.image_bf.extend(o.image_bf)
        return self

    def compute(self) -> Dict[str, object]:
        """``{'G', 'C', 'mIoU', 'BF'}`` in percent, plus ``class_acc`` / ``class_iou`` arrays (percent)."""
        s = scores_from_confusion(self.conf)
        out = {
            "G": 100 * s["global_acc"],
            "C": 100 * s["class_avg_acc"],
            "mIoU": 100 * s["mIoU"],
            "class_acc": 100 * s["class_acc"],
            "class_iou": 100 * s["class_iou"],
        }
        if self.boundary:
            out["BF"] = 100 * float(np.mean(self.image_bf)) if self.image_bf else float("nan")
        return out
