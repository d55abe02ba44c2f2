"""Tiny generated stand-ins in the exact on-disk layout of each dataset our configs read.

The test that trains every shipped config uses them where the real data is absent (COCO,
VOC 2012 aug and ADE20K are never in the test environment; CamVid, DRIVE, ISBI 2012 and
voc_tiny are when ``../shared/data`` is there). Each writer makes one or two small images per
split, rendered by :func:`segclassics.datasets.synthetic.render_sample` (shapes on textured
backgrounds; the labels are those shapes mapped into the dataset's class range), so a config's
dataset class, pipeline, metric and model run exactly as on the real files. Not real data:
only for exercising code paths. Deterministic; framework-free (numpy, Pillow, pycocotools).

ADE20K's stand-in is :func:`segclassics.datasets.ade20k_fixture.make_ade20k_fixture`.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np
from PIL import Image

from . import voc
from .synthetic import _coco_annotation, render_sample

__all__ = ["camvid", "voc_aug", "voc_tiny", "drive_raw", "drive_mmseg", "isbi2012", "coco2017"]

Size = Tuple[int, int]

#: COCO 2017's 80 thing classes with their category ids (1..90, with gaps), in id order.
COCO_THINGS = (
    (1, "person"),
    (2, "bicycle"),
    (3, "car"),
    (4, "motorcycle"),
    (5, "airplane"),
    (6, "bus"),
    (7, "train"),
    (8, "truck"),
    (9, "boat"),
    (10, "traffic light"),
    (11, "fire hydrant"),
    (13, "stop sign"),
    (14, "parking meter"),
    (15, "bench"),
    (16, "bird"),
    (17, "cat"),
    (18, "dog"),
    (19, "horse"),
    (20, "sheep"),
    (21, "cow"),
    (22, "elephant"),
    (23, "bear"),
    (24, "zebra"),
    (25, "giraffe"),
    (27, "backpack"),
    (28, "umbrella"),
    (31, "handbag"),
    (32, "tie"),
    (33, "suitcase"),
    (34, "frisbee"),
    (35, "skis"),
    (36, "snowboard"),
    (37, "sports ball"),
    (38, "kite"),
    (39, "baseball bat"),
    (40, "baseball glove"),
    (41, "skateboard"),
    (42, "surfboard"),
    (43, "tennis racket"),
    (44, "bottle"),
    (46, "wine glass"),
    (47, "cup"),
    (48, "fork"),
    (49, "knife"),
    (50, "spoon"),
    (51, "bowl"),
    (52, "banana"),
    (53, "apple"),
    (54, "sandwich"),
    (55, "orange"),
    (56, "broccoli"),
    (57, "carrot"),
    (58, "hot dog"),
    (59, "pizza"),
    (60, "donut"),
    (61, "cake"),
    (62, "chair"),
    (63, "couch"),
    (64, "potted plant"),
    (65, "bed"),
    (67, "dining table"),
    (70, "toilet"),
    (72, "tv"),
    (73, "laptop"),
    (74, "mouse"),
    (75, "remote"),
    (76, "keyboard"),
    (77, "cell phone"),
    (78, "microwave"),
    (79, "oven"),
    (80, "toaster"),
    (81, "sink"),
    (82, "refrigerator"),
    (84, "book"),
    (85, "clock"),
    (86, "vase"),
    (87, "scissors"),
    (88, "teddy bear"),
    (89, "hair drier"),
    (90, "toothbrush"),
)


def _samples(split: str, count: int, size: Size, seed: int = 0) -> Iterator[Tuple[int, np.ndarray, np.ndarray, list]]:
    """``(index, image RGB uint8, label 0..5 / 255, instances)`` for ``count`` samples."""
    for i in range(count):
        image, label, instances = render_sample(
            seed, "val" if split in ("val", "test", "validation") else "train", i, size
        )
        yield i, image, label, instances


def _mkdirs(*paths: str) -> None:
    for p in paths:
        os.makedirs(p, exist_ok=True)


def camvid(root: str, splits: Dict[str, int] = None, size: Size = (64, 80)) -> str:
    """CamVid (``python -m segclassics.tools.dataset_converters.camvid`` layout): ``images/<split>/X.jpg``,
    ``labels/<split>/X.png`` with classes 0..10 and void 11."""
    for split, count in (splits or {"train": 2, "val": 1}).items():
        _mkdirs(os.path.join(root, "images", split), os.path.join(root, "labels", split))
        for i, image, label, _ in _samples(split, count, size):
            label = np.where(label == 255, 11, label).astype(np.uint8)
            Image.fromarray(image).save(os.path.join(root, "images", split, f"{split}_{i:04d}.jpg"), quality=95)
            Image.fromarray(label, mode="L").save(os.path.join(root, "labels", split, f"{split}_{i:04d}.png"))
    return root


def _voc_palette() -> List[int]:
    """PASCAL VOC's colour map, 256 entries flattened as ``Image.putpalette`` takes them."""
    return [channel for colour in voc.colour_map() for channel in colour]


def voc_aug(root: str, num_train: int = 2, num_aug: int = 2, num_val: int = 1, size: Size = (64, 64)) -> str:
    """VOC 2012 + SBD "aug" in mmseg's layout, plus detectron2's grey index labels:
    ``JPEGImages/X.jpg``, ``SegmentationClass/X.png`` (palette, 0..20 + 255),
    ``SegmentationClassAug/X.png`` and ``SegmentationClassIndex/X.png`` (grey),
    ``ImageSets/Segmentation/{train,aug,val}.txt``."""
    dirs = {
        k: os.path.join(root, k)
        for k in ("JPEGImages", "SegmentationClass", "SegmentationClassAug", "SegmentationClassIndex")
    }
    _mkdirs(*dirs.values(), os.path.join(root, "ImageSets", "Segmentation"))
    palette = _voc_palette()
    lists: Dict[str, List[str]] = {"train": [], "aug": [], "val": []}
    for split, count in (("train", num_train), ("aug", num_aug), ("val", num_val)):
        for i, image, label, _ in _samples("val" if split == "val" else "train", count, size, seed=len(split)):
            stem = f"2012_{split}{i:04d}"
            lists[split].append(stem)
            Image.fromarray(image).save(os.path.join(dirs["JPEGImages"], stem + ".jpg"), quality=95)
            indexed = Image.fromarray(label, mode="P")
            indexed.putpalette(palette)
            indexed.save(os.path.join(dirs["SegmentationClass"], stem + ".png"))
            for grey in ("SegmentationClassAug", "SegmentationClassIndex"):
                Image.fromarray(label, mode="L").save(os.path.join(dirs[grey], stem + ".png"))
    for split, stems in lists.items():
        with open(os.path.join(root, "ImageSets", "Segmentation", f"{split}.txt"), "w") as f:
            f.write("\n".join(stems) + "\n")
    return root


def _coco(images: list, annotations: list, categories: list) -> dict:
    return dict(
        info=dict(description="segclassics stand-in"), images=images, annotations=annotations, categories=categories
    )


def _instances(
    file_name: str,
    image_id: int,
    instances: list,
    size: Size,
    first_ann_id: int,
    class_ids: Sequence[int],
    polygons: bool = False,
) -> Tuple[dict, list]:
    """COCO image record + annotations: RLE masks, or (``polygons``) each shape's box as a
    4-point polygon (COCO's own files mostly hold polygons; some loaders accept only those)."""
    image = dict(id=image_id, file_name=file_name, height=size[0], width=size[1])
    anns = []
    for cls, mask in instances:
        ann = _coco_annotation(mask)
        if polygons:
            x, y, w, h = ann["bbox"]
            ann.update(segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]], area=float(w * h))
        ann.update(id=first_ann_id + len(anns), image_id=image_id, category_id=int(class_ids[cls]))
        anns.append(ann)
    return image, anns


def voc_tiny(root: str, num_images: int = 2, size: Size = (64, 80)) -> str:
    """``../shared/data/voc_tiny``'s layout: ``coco/JPEGImages/X.jpg`` + ``coco/annotations.json``
    (labelme2coco style: category 0 ``_background_``, then the 20 VOC classes) and
    ``voc/images/X.jpg`` + ``voc/SegmentationClass/X.png`` (palette, 0..20 + 255)."""
    names = ["_background_", *voc.LABELME_THING_CLASSES]  # as labelme2coco writes them
    _mkdirs(
        os.path.join(root, "coco", "JPEGImages"),
        os.path.join(root, "voc", "images"),
        os.path.join(root, "voc", "SegmentationClass"),
    )
    palette = _voc_palette()
    images, anns = [], []
    for i, image, label, instances in _samples("train", num_images, size, seed=7):
        stem = f"2011_{i:06d}"
        Image.fromarray(image).save(os.path.join(root, "coco", "JPEGImages", stem + ".jpg"), quality=95)
        Image.fromarray(image).save(os.path.join(root, "voc", "images", stem + ".jpg"), quality=95)
        indexed = Image.fromarray(label, mode="P")
        indexed.putpalette(palette)
        indexed.save(os.path.join(root, "voc", "SegmentationClass", stem + ".png"))
        record, new = _instances(f"JPEGImages/{stem}.jpg", i, instances, size, len(anns) + 1, range(len(names)))
        images.append(record)
        anns += new
    categories = [dict(id=k, name=n, supercategory=None) for k, n in enumerate(names)]
    with open(os.path.join(root, "coco", "annotations.json"), "w") as f:
        json.dump(_coco(images, anns, categories), f)
    return root


def drive_raw(root: str, num_training: int = 2, num_test: int = 1, size: Size = (64, 64)) -> str:
    """DRIVE as downloaded: ``{training,test}/images/NN_<split>.tif``, ``1st_manual/NN_manual1.gif``
    (vessels 0/255), ``mask/NN_<split>_mask.gif`` (field of view 0/255). Training ids start at 21
    and test ids at 1, as in the release; ``python -m segclassics.tools.dataset_converters.drive`` converts it."""
    for split, count, first in (("training", num_training, 21), ("test", num_test, 1)):
        base = os.path.join(root, split)
        _mkdirs(*(os.path.join(base, d) for d in ("images", "1st_manual", "mask")))
        yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
        fov = ((yy - size[0] / 2) / (size[0] / 2)) ** 2 + ((xx - size[1] / 2) / (size[1] / 2)) ** 2 <= 1
        for i, image, label, _ in _samples(split, count, size, seed=3):
            nn = f"{first + i:02d}"
            Image.fromarray(image).save(os.path.join(base, "images", f"{nn}_{split}.tif"))
            vessels = ((label > 0) & (label != 255)).astype(np.uint8) * 255
            Image.fromarray(vessels, mode="L").save(os.path.join(base, "1st_manual", f"{nn}_manual1.gif"))
            Image.fromarray(fov.astype(np.uint8) * 255, mode="L").save(
                os.path.join(base, "mask", f"{nn}_{split}_mask.gif")
            )
    return root


def drive_mmseg(root: str, num_training: int = 2, num_validation: int = 1, size: Size = (64, 64)) -> str:
    """DRIVE in mmseg's layout (its ``tools/dataset_converters/drive.py``):
    ``images/{training,validation}/NN.png`` and ``annotations/{training,validation}/NN_manual1.png``
    (0 background, 1 vessel)."""
    for split, count in (("training", num_training), ("validation", num_validation)):
        _mkdirs(os.path.join(root, "images", split), os.path.join(root, "annotations", split))
        for i, image, label, _ in _samples(split, count, size, seed=3):
            Image.fromarray(image).save(os.path.join(root, "images", split, f"{i:02d}.png"))
            vessels = ((label > 0) & (label != 255)).astype(np.uint8)
            Image.fromarray(vessels, mode="L").save(os.path.join(root, "annotations", split, f"{i:02d}_manual1.png"))
    return root


def isbi2012(
    root: str, train_slices: Sequence[int] = (0,), val_slices: Sequence[int] = (24,), size: Size = (64, 64)
) -> str:
    """ISBI 2012 as in ``../shared/data/isbi2012``: grey ``images/train/N.png``, ``labels/train/N.png``
    (255 cell interior, 0 membrane) and ``instances/{train,val}.json`` (COCO, one class ``cell``,
    the connected cells; ``file_name`` relative to the root; image ids N + 1)."""
    _mkdirs(
        os.path.join(root, "images", "train"), os.path.join(root, "labels", "train"), os.path.join(root, "instances")
    )
    for split, slices in (("train", train_slices), ("val", val_slices)):
        images, anns = [], []
        for (_i, image, label, instances), n in zip(_samples(split, len(slices), size, seed=5), slices):
            grey = np.asarray(Image.fromarray(image).convert("L"))
            cells = ((label > 0) & (label != 255)).astype(np.uint8) * 255
            Image.fromarray(grey, mode="L").save(os.path.join(root, "images", "train", f"{n}.png"))
            Image.fromarray(cells, mode="L").save(os.path.join(root, "labels", "train", f"{n}.png"))
            record, new = _instances(f"images/train/{n}.png", n + 1, instances, size, len(anns) + 1, [1] * 6)
            images.append(record)
            anns += new
        with open(os.path.join(root, "instances", f"{split}.json"), "w") as f:
            json.dump(_coco(images, anns, [dict(id=1, name="cell")]), f)
    return root


def coco2017(root: str, num_train: int = 2, num_val: int = 1, size: Size = (64, 64)) -> str:
    """COCO 2017 instances layout: ``{train,val}2017/NNNNNNNNNNNN.jpg`` and
    ``annotations/instances_{train,val}2017.json`` (the 80 thing classes with COCO's ids; the
    shapes become the first five; polygon masks, as COCO's)."""
    categories = [dict(id=cid, name=name, supercategory="thing") for cid, name in COCO_THINGS]
    class_ids = [0] + [cid for cid, _ in COCO_THINGS[:5]]
    _mkdirs(os.path.join(root, "annotations"))
    for split, count in (("train", num_train), ("val", num_val)):
        folder = os.path.join(root, f"{split}2017")
        _mkdirs(folder)
        images, anns = [], []
        for i, image, _, instances in _samples(split, count, size, seed=11):
            name = f"{i + 1:012d}.jpg"
            Image.fromarray(image).save(os.path.join(folder, name), quality=95)
            record, new = _instances(name, i + 1, instances, size, len(anns) + 1, class_ids, polygons=True)
            images.append(record)
            anns += new
        with open(os.path.join(root, "annotations", f"instances_{split}2017.json"), "w") as f:
            json.dump(_coco(images, anns, categories), f)
    return root
