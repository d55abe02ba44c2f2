"""DRIVE retinal vessels (Staal et al. 2004): conversion of the raw download layout to the layout
our mmseg/detectron2 datasets read. Framework-free (numpy + Pillow); used by
``python -m segclassics.tools.dataset_converters.drive``.

Raw layout (as downloaded)::

    SRC/training/images/NN_training.tif      RGB 565x584 (NN = 21..40)
    SRC/training/1st_manual/NN_manual1.gif   vessels, 0/255
    SRC/training/mask/NN_training_mask.gif   field of view (FOV), 0/255
    SRC/test/images/NN_test.tif              (NN = 01..20), test/1st_manual, test/mask likewise

Written layout (``OUT`` defaults to ``data/drive``)::

    OUT/img_dir/{training,test}/NN.png   RGB
    OUT/ann_dir/{training,test}/NN.png   0 background, 1 vessel (1st observer; > 127 is vessel)
    OUT/fov_dir/{training,test}/NN.png   0 outside, 1 inside the FOV (kept for evaluation)

Labels cover the whole image (0 outside the FOV) as in mmseg's DRIVE converter, so numbers over
the whole image compare with mmseg's; our ``BinarySegMetric`` can restrict to the FOV.
"""

from __future__ import annotations

import os
from typing import Dict, List

import numpy as np
from PIL import Image

from segclassics.errors import MissingFileError
from segclassics.utils.writer import save_image

SPLITS = {"training": "training", "test": "test"}
CLASSES = ("background", "vessel")
PALETTE = [[0, 0, 0], [255, 255, 255]]


def _find(folder: str, suffixes) -> Dict[str, str]:
    """``{NN: path}`` for the files in ``folder`` whose name is ``NN<suffix>``."""
    out = {}
    for name in sorted(os.listdir(folder)):
        for suffix in suffixes:
            if name.endswith(suffix):
                out[name[: -len(suffix)]] = os.path.join(folder, name)
    return out


def raw_files(src: str, split: str) -> List[Dict[str, str]]:
    """The image / 1st-manual / mask triples of one raw split, with clear errors if incomplete."""
    if split not in SPLITS:
        raise ValueError(f"DRIVE split must be one of {sorted(SPLITS)}, got {split!r}")
    base = os.path.join(src, split)
    for sub in ("images", "1st_manual", "mask"):
        if not os.path.isdir(os.path.join(base, sub)):
            raise MissingFileError(
                f"DRIVE raw folder {os.path.join(base, sub)!r} not found: SRC must be the extracted DRIVE "
                f"download holding training/ and test/, each with images/, 1st_manual/, mask/"
            )
    imgs = _find(os.path.join(base, "images"), (f"_{split}.tif",))
    labs = _find(os.path.join(base, "1st_manual"), ("_manual1.gif",))
    masks = _find(os.path.join(base, "mask"), (f"_{split}_mask.gif",))
    if not imgs:
        raise MissingFileError(f"no NN_{split}.tif images in {os.path.join(base, 'images')!r}")
    missing = [k for k in imgs if k not in labs or k not in masks]
    if missing:
        raise MissingFileError(f"DRIVE {split}: images {missing} lack a 1st_manual label or a FOV mask")
    return [dict(id=k, image=imgs[k], label=labs[k], mask=masks[k]) for k in imgs]


def convert(src: str, out: str = "data/drive", splits=("training", "test")) -> Dict[str, int]:
    """Convert the raw DRIVE download at ``src`` to ``out``; returns images written per split."""
    counts = {}
    for split in splits:
        files = raw_files(src, split)
        for sub in ("img_dir", "ann_dir", "fov_dir"):
            os.makedirs(os.path.join(out, sub, split), exist_ok=True)
        for f in files:
            img = Image.open(f["image"]).convert("RGB")
            lab = (np.asarray(Image.open(f["label"]).convert("L")) > 127).astype(np.uint8)
            fov = (np.asarray(Image.open(f["mask"]).convert("L")) > 127).astype(np.uint8)
            if lab.shape != (img.height, img.width) or fov.shape != lab.shape:
                raise ValueError(f"{f['id']}: image {img.size[::-1]}, label {lab.shape}, mask {fov.shape} differ")
            name = f"{f['id']}.png"
            save_image(os.path.join(out, "img_dir", split, name), img)
            save_image(os.path.join(out, "ann_dir", split, name), lab)
            save_image(os.path.join(out, "fov_dir", split, name), fov)
        counts[split] = len(files)
    return counts
