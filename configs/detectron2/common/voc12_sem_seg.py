"""PASCAL VOC 2012 + SBD "aug" semantic segmentation for detectron2 configs (not a config by itself).

``voc_2012_sem_seg_train`` (1464, ``SegmentationClassIndex``) + ``voc_2012_sem_seg_aug``
(``SegmentationClassAug``) for training, ``voc_2012_sem_seg_val`` (1449) for evaluation: the
splits of ``configs/_base_/datasets/voc12aug.py``, registered by ``import segclassics.detectron2``
(``segclassics.detectron2.voc``), so saved configs that only name them run too. The folder is
``data/VOCdevkit/VOC2012`` in mmseg's layout (mmsegmentation's
``tools/dataset_converters/voc_aug.py``) plus ``SegmentationClassIndex/``: VOC's own palette
``SegmentationClass`` rewritten as grey index PNGs by
``python -m segclassics.tools.dataset_converters.palette_to_index`` (detectron2's reader would
turn palette indices into grey levels; the registration refuses palette labels).
``SEGCLASSICS_VOC2012`` points to another copy.
"""

from segclassics.datasets.voc import CLASSES as VOC_CLASSES
from segclassics.detectron2.voc import TRAIN, VAL

__all__ = ["TRAIN", "VAL", "VOC_CLASSES"]
