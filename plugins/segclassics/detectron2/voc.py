"""Register PASCAL VOC 2012 + SBD "aug" semantic segmentation (21 classes) in detectron2's catalogs.

Names, registered by ``import segclassics.detectron2`` (lazily: nothing is read until a
dataloader lists the data), the splits of ``configs/_base_/datasets/voc12aug.py``:

* ``voc_2012_sem_seg_train``: the 1464 images of ``ImageSets/Segmentation/train.txt``,
  labels from ``SegmentationClassIndex/``;
* ``voc_2012_sem_seg_aug``: SBD's extra images (``aug.txt``), labels from ``SegmentationClassAug/``;
* ``voc_2012_sem_seg_val``: the 1449 images of ``val.txt``, labels from ``SegmentationClassIndex/``.

The folder is ``$SEGCLASSICS_VOC2012``, else ``data/VOCdevkit/VOC2012`` (mmseg's layout, made by
mmsegmentation's ``tools/dataset_converters/voc_aug.py``). ``SegmentationClassIndex/`` is VOC's
own palette ``SegmentationClass`` rewritten as grey index PNGs by
``python -m segclassics.tools.dataset_converters.palette_to_index`` (detectron2's reader would
turn palette indices into grey levels; the registration refuses palette labels).
"""

from __future__ import annotations

import os
from typing import List, Optional

from segclassics.datasets.voc import CLASSES, IGNORE_INDEX, PALETTE
from segclassics.detectron2.datasets import register_sem_seg_dataset

__all__ = ["TRAIN", "VAL", "VARIABLE", "DEFAULT_ROOT", "register_voc2012"]

TRAIN = ("voc_2012_sem_seg_train", "voc_2012_sem_seg_aug")
VAL = "voc_2012_sem_seg_val"
VARIABLE = "SEGCLASSICS_VOC2012"
DEFAULT_ROOT = "data/VOCdevkit/VOC2012"


def register_voc2012(root: Optional[str] = None) -> List[str]:
    """(Re-)register the three names above under ``root`` (default ``$SEGCLASSICS_VOC2012`` or
    ``data/VOCdevkit/VOC2012``); returns them."""
    root = root or os.environ.get(VARIABLE) or DEFAULT_ROOT
    how = (
        "Make it with mmsegmentation's tools/dataset_converters/voc_aug.py (VOCdevkit + SBD), then "
        "python -m segclassics.tools.dataset_converters.palette_to_index VOC2012/SegmentationClass "
        "VOC2012/SegmentationClassIndex"
    )
    return [
        register_sem_seg_dataset(
            name,
            os.path.join(root, "JPEGImages"),
            os.path.join(root, labels),
            CLASSES,
            ignore_label=IGNORE_INDEX,
            image_ext=".jpg",
            label_ext=".png",
            stuff_colors=PALETTE,
            split_file=os.path.join(root, "ImageSets", "Segmentation", f"{split}.txt"),
            how_to_get=how,
            relocate=f"or set {VARIABLE} to your VOC2012 folder",
            root_variable=VARIABLE,
        )
        for name, labels, split in (
            (TRAIN[0], "SegmentationClassIndex", "train"),
            (TRAIN[1], "SegmentationClassAug", "aug"),
            (VAL, "SegmentationClassIndex", "val"),
        )
    ]


register_voc2012()  # at import, like detectron2's builtin datasets (and for code that imports only this)
