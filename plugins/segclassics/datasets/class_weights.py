"""Median frequency balancing (framework-free).

SegNet (Badrinarayanan et al., TPAMI 2017, Sec. 3.2) weights the cross-entropy of each
class by median frequency balancing (Eigen & Fergus, ICCV 2015): the weight of a class is the
median of the class frequencies over the training set divided by that class's frequency.
Eigen & Fergus define

    freq(c) = (pixels of class c) / (total pixels of the images where c is present)
    w(c)    = median_c freq(c) / freq(c)

"Total pixels" is ambiguous when an image has void pixels. ``count_void`` chooses: ``False``
(default) counts only labelled pixels of an image, ``True`` counts every pixel. The tool
``python -m segclassics.tools.analysis.class_weights`` prints both so the choice is visible.
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from .sample_checks import DataError


class ClassFrequencyCounter:
    """Accumulates the two sums of ``freq(c)`` one label map at a time.

    Args:
        num_classes: labels ``0..num_classes-1`` are classes.
        ignore_index: the void label (not a class); any other value outside the range is an error.
        count_void: whether void pixels count in "total pixels of the image" (see module doc).
    """

    def __init__(self, num_classes: int, ignore_index: Optional[int] = 255, count_void: bool = False):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.count_void = count_void
        self.class_pixels = np.zeros(num_classes, dtype=np.int64)
        self.present_image_pixels = np.zeros(num_classes, dtype=np.int64)
        self.num_images = 0

    def update(self, label: np.ndarray, name: str = "") -> None:
        label = np.asarray(label)
        valid = label != self.ignore_index if self.ignore_index is not None else np.ones(label.shape, bool)
        values = label[valid].astype(np.int64)
        if values.size and (values.min() < 0 or values.max() >= self.num_classes):
            bad = np.unique(values[(values < 0) | (values >= self.num_classes)]).tolist()[:10]
            where = f" in {name}" if name else ""
            raise DataError(
                f"label values {bad}{where} are outside 0..{self.num_classes - 1} and are not "
                f"the ignore index {self.ignore_index}"
            )
        counts = np.bincount(values, minlength=self.num_classes)
        total = label.size if self.count_void else int(valid.sum())
        self.class_pixels += counts
        self.present_image_pixels += np.where(counts > 0, total, 0)
        self.num_images += 1

    def frequencies(self) -> np.ndarray:
        """``freq(c)``; ``nan`` for classes that never occur."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(
                self.present_image_pixels > 0, self.class_pixels / np.maximum(self.present_image_pixels, 1), np.nan
            )

    def weights(self) -> np.ndarray:
        return median_frequency_weights(self.frequencies())


def median_frequency_weights(freq: Iterable[float]) -> np.ndarray:
    """``w(c) = median(freq) / freq(c)``; classes with no pixel (``nan`` or 0) raise an error,
    because their weight would be infinite and the choice must be made by the user."""
    freq = np.asarray(list(freq), dtype=np.float64)
    missing = np.where(~(freq > 0))[0].tolist()
    if missing:
        raise DataError(
            f"classes {missing} have no pixel in the training labels: median frequency "
            f"balancing needs every class to occur (drop the class or set its weight by hand)"
        )
    return np.median(freq) / freq


def median_frequency_weights_from_labels(
    labels: Iterable[np.ndarray], num_classes: int, ignore_index: Optional[int] = 255, count_void: bool = False
) -> np.ndarray:
    """Weights from an iterable of ``(H, W)`` label maps (see :class:`ClassFrequencyCounter`)."""
    counter = ClassFrequencyCounter(num_classes, ignore_index, count_void)
    for lab in labels:
        counter.update(lab)
    return counter.weights()
