"""``Rot90``: rotate the image and its label maps by a multiple of 90 degrees, for training (a random
multiple) and for the rotated views of test-time augmentation (a fixed one; ``SegRot90TTAModel`` turns
the scores back). Ronneberger et al. 2015 train for rotation invariance (Sec. 3.1) and average the
output of their ISBI entry over rotated inputs (Sec. 4)."""

from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class Rot90(BaseTransform):
    """Rotate ``img`` and every map in ``seg_fields`` counter-clockwise by ``k`` x 90 degrees
    (``numpy.rot90`` on the first two axes), an exact pixel permutation: nothing is interpolated or
    padded.

    Args:
        k: quarter turns, 0-3, or ``None`` for a uniformly random 0-3 per sample (training).

    Required keys: ``img``; modified: ``img``, ``seg_fields`` maps, ``img_shape``; added:
    ``rot90_k``. For an odd ``k`` ``ori_shape`` is swapped as well, so that mmseg's post-processing
    (which resizes the scores to ``ori_shape``) keeps the rotated frame of a non-square image;
    ``SegRot90TTAModel`` rotates the scores back. Put it before ``RandomFlip`` in a test-time
    pipeline: the scores are un-flipped by the segmentor first, then un-rotated.
    """

    def __init__(self, k: int | None = None):
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 3):
            raise ValueError(f"Rot90: k must be 0, 1, 2, 3 or None (random), got {k!r}")
        self.k = k

    def transform(self, results: dict) -> dict:
        k = int(np.random.randint(4)) if self.k is None else self.k
        results["img"] = np.ascontiguousarray(np.rot90(results["img"], k, axes=(0, 1)))
        for key in results.get("seg_fields", []):
            results[key] = np.ascontiguousarray(np.rot90(results[key], k, axes=(0, 1)))
        results["img_shape"] = results["img"].shape[:2]
        if k % 2 and "ori_shape" in results:
            results["ori_shape"] = tuple(results["ori_shape"][::-1])
        results["rot90_k"] = k
        return results

    def __repr__(self):
        return f"{type(self).__name__}(k={self.k})"
