"""``SegRot90TTAModel``: mmseg's ``SegTTAModel`` for views rotated by ``Rot90`` as well as flipped, so
that a test-time pipeline can average the eight rotations and reflections of the image (the dihedral
group), as the ISBI 2012 entry of Ronneberger et al. 2015 averaged rotated inputs (Sec. 4)."""

from __future__ import annotations

from typing import List

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import SegTTAModel
from mmseg.registry import MODELS


@MODELS.register_module()
class SegRot90TTAModel(SegTTAModel):
    """Average the softmax scores of every view like ``SegTTAModel``, after turning the scores of a
    view made by ``Rot90(k)`` back by ``-k`` quarter turns (the segmentor has already undone its
    flip). Views without ``rot90_k`` in their meta data are taken as they are, so the model also
    serves plain flip pipelines.

    Shapes: each view's ``seg_logits`` is ``(C, H', W')`` in the rotated frame; after the turn all
    are ``(C, H, W)`` of the image, and the merged ``pred_sem_seg`` is ``(1, H, W)``.
    """

    def merge_preds(self, data_samples_list: List[list]) -> list:
        for data_samples in data_samples_list:
            for sample in data_samples:
                k = sample.metainfo.get("rot90_k", 0)
                if k:
                    # a new PixelData: the shape of a non-square view changes with an odd k
                    sample.seg_logits = PixelData(data=torch.rot90(sample.seg_logits.data, -k, dims=(1, 2)))
        return super().merge_preds(data_samples_list)
