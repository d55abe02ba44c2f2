"""PASCAL VOC's class names and colours have one definition, ``segclassics.datasets.voc``; every
other place (configs that cannot import it, the detectron2 registrations, the stand-in data) equals it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segclassics.datasets import voc

REPO = Path(__file__).resolve().parents[1]

# the VOC devkit's classes (VOCcode/VOCinit.m, VOC2012), after the segmentation task's background 0
STANDARD_21 = [
    "background",
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
]  # fmt: skip


def test_the_definition_is_vocs_21_classes_and_colour_map():
    assert list(voc.CLASSES) == STANDARD_21
    assert list(voc.THING_CLASSES) == STANDARD_21[1:]
    assert voc.LABELME_THING_CLASSES[15] == "potted plant" and voc.LABELME_THING_CLASSES[19] == "tv/monitor"
    assert [a for a, b in zip(voc.LABELME_THING_CLASSES, voc.THING_CLASSES) if a != b] == ["potted plant", "tv/monitor"]
    # VOClabelcolormap.m: background black, aeroplane dark red, ..., person (15) pink, tvmonitor (20)
    assert voc.PALETTE[:4] == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
    assert voc.PALETTE[15] == (192, 128, 128) and voc.PALETTE[20] == (0, 64, 128)
    assert voc.colour_map()[255] == (224, 224, 192)  # the boundary/ignore colour of VOC's label PNGs
    assert voc.IGNORE_INDEX == 255


def test_mmsegs_pascal_voc_dataset_agrees():
    mmseg_datasets = pytest.importorskip("mmseg.datasets")
    meta = mmseg_datasets.PascalVOCDataset.METAINFO
    assert list(meta["classes"]) == list(voc.CLASSES)
    assert [tuple(c) for c in meta["palette"]] == voc.PALETTE


def test_the_mmengine_configs_copy_it():
    from mmengine.config import Config

    fcn = Config.fromfile(str(REPO / "configs/fcn/fcn8s_vgg16_voc_tiny.py"))
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        assert tuple(fcn[loader].dataset.metainfo.classes) == voc.CLASSES
    mask_rcnn = Config.fromfile(str(REPO / "configs/mask_rcnn/mask-rcnn_r50_fpn_gn-scratch_voc-tiny.py"))
    assert tuple(mask_rcnn.metainfo.classes) == voc.LABELME_THING_CLASSES
    assert [tuple(c) for c in mask_rcnn.metainfo.palette] == voc.PALETTE[1:]


def test_the_detectron2_registrations_use_it():
    pytest.importorskip("detectron2")
    from detectron2.data import MetadataCatalog

    import segclassics.detectron2  # noqa: F401  (registers the names)
    from segclassics.detectron2 import instance_datasets

    for name in ("voc_2012_sem_seg_train", "voc_2012_sem_seg_aug", "voc_2012_sem_seg_val"):
        assert MetadataCatalog.get(name).stuff_classes == list(voc.CLASSES)
        assert MetadataCatalog.get(name).stuff_colors == [list(c) for c in voc.PALETTE]
    assert MetadataCatalog.get(instance_datasets.VOC_TINY).thing_classes == list(voc.LABELME_THING_CLASSES)


def test_the_shared_voc_tiny_and_its_stand_in_spell_them_alike(shared_data, tmp_path):
    from segclassics.datasets import standins

    shared = shared_data("voc_tiny")
    names = (shared / "voc" / "class_names.txt").read_text().split("\n")
    assert [n for n in names if n] == ["_background_", *voc.LABELME_THING_CLASSES]
    stand_in = Path(standins.voc_tiny(str(tmp_path / "voc_tiny"), num_images=1))
    categories = json.loads((stand_in / "coco" / "annotations.json").read_text())["categories"]
    shared_categories = json.loads((shared / "coco" / "annotations.json").read_text())["categories"]
    assert [c["name"] for c in categories] == [c["name"] for c in shared_categories]
