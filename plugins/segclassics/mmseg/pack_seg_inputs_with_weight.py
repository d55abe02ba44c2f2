"""``PackSegInputsWithWeight``: mmseg's ``PackSegInputs`` that also packs the UNet weight map
(Ronneberger et al. 2015, Eq. 2) and the DRIVE field-of-view path."""

from __future__ import annotations

import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

_META = (
    "img_path",
    "seg_map_path",
    "ori_shape",
    "img_shape",
    "pad_shape",
    "scale_factor",
    "flip",
    "flip_direction",
    "reduce_zero_label",
    "fov_path",
    "rot90_k",
)


@TRANSFORMS.register_module()
class PackSegInputsWithWeight(PackSegInputs):
    """Pack like ``PackSegInputs`` and add ``gt_weight_map`` (``PixelData``, float ``(1, H, W)``)
    when the results hold one; ``meta_keys`` default to mmseg's plus ``fov_path``
    (read by ``BinarySegMetric`` to evaluate inside the field of view) and ``rot90_k`` (set by ``Rot90``,
    read by ``SegRot90TTAModel``)."""

    def __init__(self, meta_keys=_META):
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if "gt_weight_map" in results:
            w = np.ascontiguousarray(results["gt_weight_map"], dtype=np.float32)
            packed["data_samples"].set_data(dict(gt_weight_map=PixelData(data=torch.from_numpy(w)[None])))
        return packed
