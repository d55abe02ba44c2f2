"""``MirrorPadBorder``: mirror-extrapolate the image by the border a valid UNet loses (Ronneberger et
al. 2015, Fig. 2), padding labels with ``ignore_index`` so that labels stay real pixels only."""

from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class MirrorPadBorder(BaseTransform):
    """Pad ``img`` by ``border`` pixels on every side with mirroring (``numpy`` ``'reflect'``), and
    every map in ``seg_fields`` with ``seg_pad_val`` (``gt_weight_map`` with 0).

    With ``border`` = the network's border (``segclassics.models.unet.unet_border``: 92 for the
    paper net), a random crop of one input tile from the padded image has its output region
    inside the original image, so every label pixel can be the target of some crop, as in the
    paper's tiles at the image boundary.

    Args:
        border: pixels per side (int or (top/bottom, left/right)).
        seg_pad_val: label value of the padding (255 = ignore).

    Required keys: ``img``; modified: ``img``, ``seg_fields`` maps, ``img_shape``.
    """

    def __init__(self, border, seg_pad_val: int = 255):
        by, bx = (border, border) if isinstance(border, int) else tuple(border)
        if by < 0 or bx < 0:
            raise ValueError(f"border must be >= 0, got {border}")
        self.by, self.bx, self.seg_pad_val = int(by), int(bx), seg_pad_val

    def _pad_reflect(self, img):
        pads = [(self.by, self.by), (self.bx, self.bx)] + [(0, 0)] * (img.ndim - 2)
        while any(p >= s - 1 for (p, _), s in zip(pads[:2], img.shape[:2])):  # reflect in steps if too small
            step = [(min(p, s - 1), min(p, s - 1)) for (p, _), s in zip(pads[:2], img.shape[:2])]
            img = np.pad(img, step + [(0, 0)] * (img.ndim - 2), mode="reflect")
            pads = [(p - a, p - a) for (p, _), (a, _) in zip(pads[:2], step)] + pads[2:]
        return np.pad(img, pads, mode="reflect")

    def transform(self, results: dict) -> dict:
        results["img"] = self._pad_reflect(results["img"])
        for key in results.get("seg_fields", []):
            val = 0 if "weight" in key else self.seg_pad_val
            seg = results[key]
            results[key] = np.pad(
                seg,
                [(self.by, self.by), (self.bx, self.bx)] + [(0, 0)] * (seg.ndim - 2),
                mode="constant",
                constant_values=val,
            )
        results["img_shape"] = results["img"].shape[:2]
        return results

    def __repr__(self):
        return f"{type(self).__name__}(border=({self.by}, {self.bx}), seg_pad_val={self.seg_pad_val})"
