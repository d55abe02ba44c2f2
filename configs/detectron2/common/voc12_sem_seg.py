"""PASCAL VOC 2012 + SBD "aug" semantic segmentation for detectron2 configs (not a config by itself).

The layout is mmseg's (``tools/dataset_converters/voc_aug.py`` of mmsegmentation), under
``data/VOCdevkit/VOC2012`` or ``$SEGCLASSICS_VOC2012``:
``JPEGImages/``, ``SegmentationClassAug/`` (grey index PNGs made by mmseg's converter),
``ImageSets/Segmentation/{train,val,aug}.txt``, plus ``SegmentationClassIndex/``: VOC's own palette
``SegmentationClass`` rewritten as grey index PNGs by
``tools/dataset_converters/palette_to_index.py`` (detectron2's reader would turn palette indices
into grey levels; the registration refuses palette labels).

Registered at import (the same splits as ``configs/_base_/datasets/voc12aug.py``):
``voc_2012_sem_seg_train`` (1464, SegmentationClassIndex) + ``voc_2012_sem_seg_aug``
(SegmentationClassAug) for training, ``voc_2012_sem_seg_val`` (1449) for evaluation.
"""

import os

from segclassics.detectron2.datasets import register_sem_seg_dataset

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
TRAIN = ("voc_2012_sem_seg_train", "voc_2012_sem_seg_aug")
VAL = "voc_2012_sem_seg_val"

_root = os.environ.get("SEGCLASSICS_VOC2012", "data/VOCdevkit/VOC2012")
_how = (
    "Make it with mmsegmentation's tools/dataset_converters/voc_aug.py (VOCdevkit + SBD), then "
    "python tools/dataset_converters/palette_to_index.py VOC2012/SegmentationClass "
    "VOC2012/SegmentationClassIndex; or set SEGCLASSICS_VOC2012 to your VOC2012 folder."
)
for _name, _labels, _split in (
    (TRAIN[0], "SegmentationClassIndex", "train"),
    (TRAIN[1], "SegmentationClassAug", "aug"),
    (VAL, "SegmentationClassIndex", "val"),
):
    register_sem_seg_dataset(
        _name,
        os.path.join(_root, "JPEGImages"),
        os.path.join(_root, _labels),
        VOC_CLASSES,
        ignore_label=255,
        image_ext=".jpg",
        label_ext=".png",
        split_file=os.path.join(_root, "ImageSets", "Segmentation", f"{_split}.txt"),
        how_to_get=_how,
    )
