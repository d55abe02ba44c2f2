"""``ElasticDeformation``: the augmentation of Ronneberger et al. 2015, Sec. 3.1, as an mmseg transform
(calls ``segclassics.datasets.unet_augment.elastic_deform``)."""

from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ..datasets.unet_augment import elastic_deform


@TRANSFORMS.register_module()
class ElasticDeformation(BaseTransform):
    """Random smooth deformation: displacements drawn from N(0, ``sigma``^2) pixels on a coarse
    ``grid`` x ``grid`` grid (paper: 3 x 3, sigma 10 px), interpolated bicubically to every pixel;
    the image is resampled with ``image_order`` splines, labels with nearest neighbour, borders
    mirrored.

    Args:
        sigma: displacement std in pixels (paper 10). grid: coarse grid size (paper 3).
        prob: probability of applying it. image_order: spline order for the image (1 linear, 3 cubic).
        seed: optional seed for reproducible runs (otherwise numpy's global state).

    Required keys: ``img``, optional ``seg_fields`` maps (``gt_seg_map`` nearest, others linear).
    """

    def __init__(self, sigma: float = 10.0, grid: int = 3, prob: float = 1.0, image_order: int = 1, seed=None):
        if not 0 <= prob <= 1:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.sigma, self.grid, self.prob, self.image_order = sigma, grid, prob, image_order
        self.rng = np.random.default_rng(seed)

    def transform(self, results: dict) -> dict:
        if self.rng.random() >= self.prob:
            return results
        fields = [k for k in results.get("seg_fields", []) if k in results]
        labels = [k for k in fields if results[k].dtype.kind in "iub"]
        others = [k for k in fields if k not in labels]
        seed = self.rng.integers(2**31)
        out = elastic_deform(
            results["img"],
            None,
            self.sigma,
            self.grid,
            np.random.default_rng(seed),
            self.image_order,
            extra=[results[k] for k in others],
        )
        results["img"] = out[0]
        for k, v in zip(others, out[2:]):
            results[k] = v
        for k in labels:  # same field (same seed), nearest neighbour
            results[k] = elastic_deform(
                results[k], None, self.sigma, self.grid, np.random.default_rng(seed), image_order=0
            )[0]
        return results

    def __repr__(self):
        return f"{type(self).__name__}(sigma={self.sigma}, grid={self.grid}, prob={self.prob})"
