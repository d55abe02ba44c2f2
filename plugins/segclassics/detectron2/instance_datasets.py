"""The instance-segmentation datasets segclassics' Mask R-CNN configs name, registered by name.

Like detectron2's builtin datasets, ``import segclassics.detectron2`` registers them (lazily: the
json is read when a dataloader first lists the data), so a config that only *names* them -- a
yaml config, or the ``config.yaml`` that ``default_setup`` saves next to a run -- runs without
the ``.py`` config that first used them. Each goes through the checked COCO loader
(``segclassics.detectron2.coco_instances``); a variable moves each dataset. The ``../shared/data``
defaults are beside the source checkout (``segclassics.datasets.paths.SHARED_DATA``), whatever the
working directory; ``data/coco`` is relative to the working directory, as in mmdet's configs:

=================================================  ==========================  =====================================
names                                              variable                    default folder
=================================================  ==========================  =====================================
``isbi2012_cells_train`` / ``isbi2012_cells_val``  ``SEGCLASSICS_ISBI2012``    ``../shared/data/isbi2012``
``voc_tiny_instances``                             ``SEGCLASSICS_VOC_TINY``    ``../shared/data/voc_tiny``
``segclassics_coco_2017_{train,val}``              ``SEGCLASSICS_COCO``        ``data/coco``
=================================================  ==========================  =====================================
"""

from __future__ import annotations

import os
from typing import List

from segclassics.datasets import voc
from segclassics.datasets.paths import shared_data
from segclassics.detectron2.coco_instances import register_checked_coco_instances

__all__ = [
    "ISBI2012_TRAIN",
    "ISBI2012_VAL",
    "VOC_TINY",
    "VOC_TINY_CLASSES",
    "COCO_TRAIN",
    "COCO_VAL",
    "register_instance_datasets",
]

ISBI2012_TRAIN, ISBI2012_VAL = "isbi2012_cells_train", "isbi2012_cells_val"
VOC_TINY = "voc_tiny_instances"
COCO_TRAIN, COCO_VAL = "segclassics_coco_2017_train", "segclassics_coco_2017_val"
# the 20 VOC thing classes as voc_tiny's labelme json spells them (its category 0 ``_background_``
# is dropped at load time)
VOC_TINY_CLASSES = list(voc.LABELME_THING_CLASSES)


def register_instance_datasets() -> List[str]:
    """(Re-)register every name of the table above, with the folders the variables say now."""
    names = []
    # ISBI 2012 cells: 24 / 6 slices of 512x512 EM, one class, ~110 cells per slice
    root = os.environ.get("SEGCLASSICS_ISBI2012") or shared_data("isbi2012")
    how = "ISBI 2012 instances are in ../shared/data/isbi2012/instances (set SEGCLASSICS_ISBI2012 to another copy)"
    for name, split in ((ISBI2012_TRAIN, "train"), (ISBI2012_VAL, "val")):
        names.append(
            register_checked_coco_instances(
                name,
                os.path.join(root, "instances", f"{split}.json"),
                root,
                thing_classes=["cell"],
                how_to_get=how,
                root_variable="SEGCLASSICS_ISBI2012",
            )
        )
    # voc_tiny: 3 Pascal VOC 2011 images with labelme polygons, a single split
    root = os.path.join(os.environ.get("SEGCLASSICS_VOC_TINY") or shared_data("voc_tiny"), "coco")
    names.append(
        register_checked_coco_instances(
            VOC_TINY,
            os.path.join(root, "annotations.json"),
            root,
            thing_classes=VOC_TINY_CLASSES,
            drop_category_names=("_background_",),
            how_to_get="voc_tiny lives in ../shared/data/voc_tiny (or set SEGCLASSICS_VOC_TINY)",
            root_variable="SEGCLASSICS_VOC_TINY",
        )
    )
    # COCO 2017 in mmdet's layout, so mmdet's and detectron2's configs read the same folder
    root = os.environ.get("SEGCLASSICS_COCO", "data/coco")
    for name, split in ((COCO_TRAIN, "train"), (COCO_VAL, "val")):
        names.append(
            register_checked_coco_instances(
                name,
                os.path.join(root, "annotations", f"instances_{split}2017.json"),
                os.path.join(root, f"{split}2017"),
                how_to_get="download COCO 2017 (images + annotations) into data/coco (or set SEGCLASSICS_COCO)",
                root_variable="SEGCLASSICS_COCO",
            )
        )
    return names


register_instance_datasets()  # at import, like detectron2's builtin datasets (and for code that imports only this)
