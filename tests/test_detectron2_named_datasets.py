"""``import segclassics.detectron2`` alone registers the semantic datasets our configs name (VOC 2012,
CamVid), as detectron2 registers its builtin ones: a saved ``config.yaml`` or detectron2's own tools
find them without the ``.py`` config. Their folders follow the shared-data default
(``../shared/data/camvid`` beside the checkout, from any working directory) and move with one variable each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("detectron2")

REPO = Path(__file__).resolve().parents[1]
VOC_NAMES = ("voc_2012_sem_seg_train", "voc_2012_sem_seg_aug", "voc_2012_sem_seg_val")
CAMVID_NAMES = ("camvid_sem_seg_train", "camvid_sem_seg_val", "camvid_sem_seg_test")

# a fresh interpreter that imports nothing of ours but the package
REPORT = """
import json, sys
import segclassics.detectron2
from detectron2.data import DatasetCatalog, MetadataCatalog
names = sys.argv[1:]
print(json.dumps({
    "registered": sorted(set(names) & set(DatasetCatalog.list())),
    "meta": {n: {k: MetadataCatalog.get(n).get(k) for k in
                 ("image_root", "sem_seg_root", "stuff_classes", "ignore_label", "evaluator_type", "root_variable")}
             for n in names},
    "camvid_val": [d["file_name"] for d in DatasetCatalog.get("camvid_sem_seg_val")] if "list" in names else None,
}))
"""


def _report(*names, cwd, **env_vars):
    env = {k: v for k, v in os.environ.items() if k not in ("SEGCLASSICS_CAMVID", "SEGCLASSICS_VOC2012")}
    env.update(env_vars, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", REPORT, *names], cwd=cwd, env=env, text=True, capture_output=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_package_import_registers_voc_and_camvid(tmp_path):
    from segclassics.datasets import camvid, voc

    report = _report(*VOC_NAMES, *CAMVID_NAMES, cwd=tmp_path)
    assert report["registered"] == sorted(VOC_NAMES + CAMVID_NAMES)
    meta = report["meta"]
    # defaults: mmseg's VOC folder (relative to the working directory), the shared CamVid copy beside
    # the checkout (the same from any working directory)
    assert meta["voc_2012_sem_seg_train"]["image_root"] == "data/VOCdevkit/VOC2012/JPEGImages"
    assert meta["voc_2012_sem_seg_train"]["sem_seg_root"] == "data/VOCdevkit/VOC2012/SegmentationClassIndex"
    assert meta["voc_2012_sem_seg_aug"]["sem_seg_root"] == "data/VOCdevkit/VOC2012/SegmentationClassAug"
    shared_camvid = os.path.normpath(REPO / ".." / "shared" / "data" / "camvid")
    assert meta["camvid_sem_seg_train"]["image_root"] == f"{shared_camvid}/images/train"
    assert meta["camvid_sem_seg_test"]["sem_seg_root"] == f"{shared_camvid}/labels/test"
    for name in VOC_NAMES:
        assert meta[name]["stuff_classes"] == list(voc.CLASSES)
        assert (meta[name]["ignore_label"], meta[name]["evaluator_type"]) == (255, "sem_seg")
        assert meta[name]["root_variable"] == "SEGCLASSICS_VOC2012"
    for name in CAMVID_NAMES:
        assert meta[name]["stuff_classes"] == list(camvid.CLASSES)
        assert (meta[name]["ignore_label"], meta[name]["evaluator_type"]) == (11, "sem_seg")
        assert meta[name]["root_variable"] == "SEGCLASSICS_CAMVID"


def test_one_variable_moves_each_dataset(tmp_path):
    meta = _report(
        "voc_2012_sem_seg_val",
        "camvid_sem_seg_val",
        cwd=tmp_path,
        SEGCLASSICS_VOC2012="/copies/VOC2012",
        SEGCLASSICS_CAMVID="/copies/camvid",
    )["meta"]
    assert meta["voc_2012_sem_seg_val"]["image_root"] == "/copies/VOC2012/JPEGImages"
    assert meta["camvid_sem_seg_val"]["sem_seg_root"] == "/copies/camvid/labels/val"


def test_camvid_default_reads_the_shared_copy_from_any_working_directory(shared_data, tmp_path):
    shared = shared_data("camvid")
    if (REPO.parent / "shared" / "data" / "camvid").resolve() != shared.resolve():
        pytest.skip(f"the shared CamVid ({shared}) is not ../shared/data/camvid of the checkout")
    files = _report("camvid_sem_seg_val", "list", cwd=tmp_path)["camvid_val"]
    expected = sorted((shared / "images" / "val").glob("*.jpg"))
    assert len(files) == len(expected) == 101  # the val split of the SegNet tutorial's CamVid
    assert [os.path.realpath(f) for f in files] == [os.path.realpath(p) for p in expected]
