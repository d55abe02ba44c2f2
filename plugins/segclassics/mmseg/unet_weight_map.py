"""``UNetWeightMap``: the pixel-wise loss weights of Ronneberger et al. 2015, Eq. (2), as an mmseg
transform (calls ``segclassics.datasets.unet_augment.unet_weight_map``)."""

from __future__ import annotations

from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ..datasets.unet_augment import unet_weight_map


@TRANSFORMS.register_module()
class UNetWeightMap(BaseTransform):
    """Compute ``w(x) = w_c(x) + w0 * exp(-(d1 + d2)^2 / (2 sigma^2))`` (paper Sec. 3, Eq. 2) from
    ``gt_seg_map`` and store it as ``gt_weight_map`` (float32, ``(H, W)``), added to ``seg_fields``
    so later geometric transforms (crop, flip, ``MirrorPadBorder``) move it with the label. Pack
    with ``PackSegInputsWithWeight``; ``PaperUNetHead`` multiplies its cross-entropy by it.

    Args:
        w0: 10 in the paper. sigma: about 5 pixels in the paper.
        num_classes: classes of ``gt_seg_map``.
        foreground: class(es) forming the cells (their connected components are the instances).
        background: the class between cells where the border term applies.
        class_weights: ``'balanced'`` (``w_c`` from the label's class frequencies), a list, or None.
        background_only: border term on background pixels only (see ``unet_weight_map``).
        ignore_index: label value that gets weight 0.

    Required keys: ``gt_seg_map``; added: ``gt_weight_map``.
    """

    def __init__(
        self,
        w0: float = 10.0,
        sigma: float = 5.0,
        num_classes: int = 2,
        foreground=1,
        background: int = 0,
        class_weights="balanced",
        background_only: bool = True,
        ignore_index: int = 255,
    ):
        self.kwargs = dict(
            w0=w0,
            sigma=sigma,
            num_classes=num_classes,
            foreground=foreground,
            background=background,
            class_weights=class_weights,
            background_only=background_only,
            ignore_index=ignore_index,
        )

    def transform(self, results: dict) -> dict:
        if "gt_seg_map" not in results:
            raise KeyError("UNetWeightMap needs gt_seg_map: put it after LoadAnnotations")
        results["gt_weight_map"] = unet_weight_map(results["gt_seg_map"], **self.kwargs)
        if "gt_weight_map" not in results.setdefault("seg_fields", []):
            results["seg_fields"].append("gt_weight_map")
        return results

    def __repr__(self):
        return f"{type(self).__name__}({self.kwargs})"
