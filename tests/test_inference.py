"""Predicting with our checkpoints: the frameworks' own inference APIs, tools/infer.py and
tools/publish_model.py.

The checkpoints of the API tests are 2-iteration trainings by tools/train.py, one per framework
per session: configs/unet/unet_synthetic.py (mmseg), configs/detectron2/unet_synthetic.yaml
(detectron2; the LazyConfig configs/detectron2/unet_synthetic.py builds the same network) and
our CPU Mask R-CNN on the synthetic instances (tests/fixtures/inference/, mmdet). Every file is
read under torch's default ``weights_only=True``; no test sets an environment switch.
Predictions are compared with references computed here: the argmax of the model's logits on the
normalised image, the frameworks' own API results, decoded RLE masks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import REPO, error_message, malicious_checkpoint, random_weights, refusal, run_infer
from segclassics.datasets import synthetic
from segclassics.datasets.image_input import ImageInputError, find_inputs, read_image
from segclassics.errors import UserError

UNET = REPO / "configs/unet/unet_synthetic.py"
D2_YAML = REPO / "configs/detectron2/unet_synthetic.yaml"
D2_LAZY = REPO / "configs/detectron2/unet_synthetic.py"
MASK_RCNN = REPO / "tests/fixtures/inference/mask-rcnn_r18_synthetic_tiny.py"
D2_TINY_MASK_RCNN = REPO / "tests/fixtures/benchmark/d2_tiny_mask_rcnn.py"
VALID_UNET = REPO / "configs/unet/unet_valid_isbi2012_cpu.py"
SEGNET_CAMVID = REPO / "configs/segnet/segnet_basic_camvid_cpu.py"
# every RoI kept (mmdet/detectron2 drop scores < 0.05 by default): a 2-iteration model has instances to compare
MMDET_ALL_ROIS = {"model.test_cfg.rcnn.score_thr": 0.0}
D2_ALL_ROIS = ["model.roi_heads.box_predictor.test_score_thresh=0.0"]


@contextlib.contextmanager
def no_allow_list():
    """torch.load exactly as in a process without segclassics (which allow-lists mmengine's
    message-hub classes for training checkpoints)."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        yield
    finally:
        torch.serialization.add_safe_globals(saved)


def val_images(root: Path) -> list:
    return sorted((root / "img_dir" / "val").glob("*.png"))


def rgb_of(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def mm_logits_argmax(model, rgb: np.ndarray) -> np.ndarray:
    """Class map of an mmseg 'whole'-mode model computed by hand: normalise as the config's data
    preprocessor says, run backbone + decode head, argmax."""
    pre = model.cfg.model.data_preprocessor
    x = torch.from_numpy(rgb).permute(2, 0, 1).float()
    x = (x - torch.tensor(pre.mean).view(-1, 1, 1)) / torch.tensor(pre.std).view(-1, 1, 1)
    with torch.no_grad():
        logits = model.decode_head.forward(model.extract_feat(x[None]))
    assert logits.shape[-2:] == x.shape[-2:]
    return logits.argmax(1)[0].numpy()


def expected_overlay(rgb: np.ndarray, labels: np.ndarray, palette) -> np.ndarray:
    return np.rint(0.5 * rgb.astype(np.float64) + 0.5 * np.asarray(palette, np.float64)[labels]).astype(np.uint8)


# ----------------------------------------------------------------------------- trained checkpoints


@pytest.fixture(scope="session")
def mmseg_run(tmp_path_factory, run_tool, synthetic_root) -> Path:
    work = tmp_path_factory.mktemp("mmseg_run")
    opts = ["train_cfg.max_iters=2", "train_cfg.val_interval=2", "default_hooks.checkpoint.interval=2"]
    for split in ("train", "val", "test"):
        opts += [
            f"{split}_dataloader.dataset.data_root={synthetic_root}",
            f"{split}_dataloader.num_workers=0",
            f"{split}_dataloader.persistent_workers=False",
        ]
    proc = run_tool("train.py", UNET, "--work-dir", work, "--cfg-options", *opts)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work


@pytest.fixture(scope="session")
def d2_run(tmp_path_factory, run_tool, synthetic_root) -> Path:
    work = tmp_path_factory.mktemp("d2_run")
    proc = run_tool(
        "train.py",
        D2_YAML,
        "--work-dir",
        work,
        "SOLVER.MAX_ITER=2",
        "SOLVER.CHECKPOINT_PERIOD=2",
        "TEST.EVAL_PERIOD=2",
        "SOLVER.IMS_PER_BATCH=2",
        "DATALOADER.NUM_WORKERS=0",
        env={"SEGCLASSICS_SYNTHETIC_ROOT": str(synthetic_root)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work


@pytest.fixture(scope="session")
def mmdet_run(tmp_path_factory, run_tool, synthetic_root) -> Path:
    work = tmp_path_factory.mktemp("mmdet_run")
    opts = [
        f"train_dataloader.dataset.data_root={synthetic_root}",
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
    ]
    proc = run_tool("train.py", MASK_RCNN, "--work-dir", work, "--cfg-options", *opts)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work


# ----------------------------------------------------------------------------- mmseg APIs


@pytest.mark.slow
def test_mmseg_init_model_and_inference_model(mmseg_run, synthetic_root):
    """init_model reads the training checkpoint and last_weights.pth (identical weights, the
    dataset's classes/palette); inference_model's map is the argmax of the model's logits."""
    from mmseg.apis import inference_model, init_model

    import segclassics.mmseg  # noqa: F401  (as the config's custom_imports would)

    last = mmseg_run / "last_weights.pth"
    with no_allow_list():
        published = torch.load(last)
    assert set(published) == {"state_dict", "meta"}
    assert published["meta"]["dataset_meta"]["classes"] == list(synthetic.CLASSES)
    image = val_images(synthetic_root)[0]
    models = [init_model(str(UNET), str(ckpt), device="cpu") for ckpt in (mmseg_run / "iter_2.pth", last)]
    for model in models:
        assert list(model.dataset_meta["classes"]) == list(synthetic.CLASSES)
        assert [list(c) for c in model.dataset_meta["palette"]] == synthetic.PALETTE
        result = inference_model(model, str(image))
        assert np.array_equal(result.pred_sem_seg.data[0].numpy(), mm_logits_argmax(model, rgb_of(image)))
    trained, light = (m.state_dict() for m in models)
    assert trained.keys() == light.keys() and all(torch.equal(trained[k], light[k]) for k in trained)


@pytest.mark.slow
def test_mmseg_inferencer_writes_visualisation(mmseg_run, synthetic_root, tmp_path):
    from mmseg.apis import MMSegInferencer

    import segclassics.mmseg  # noqa: F401

    images = val_images(synthetic_root)[:2]
    inferencer = MMSegInferencer(model=str(UNET), weights=str(mmseg_run / "last_weights.pth"), device="cpu")
    inferencer([str(p) for p in images], out_dir=str(tmp_path))
    assert sorted(os.listdir(tmp_path / "vis")) == [p.name for p in images]
    for i, path in enumerate(images):
        assert png(tmp_path / "vis" / path.name).shape == rgb_of(path).shape
        pred = png(tmp_path / "pred" / f"{i:08d}_pred.png")
        assert np.array_equal(pred, mm_logits_argmax(inferencer.model, rgb_of(path)))


# ----------------------------------------------------------------------------- mmdet APIs


@pytest.mark.slow
def test_mmdet_init_detector_and_det_inferencer(mmdet_run, synthetic_root, tmp_path):
    """init_detector + inference_detector and DetInferencer on last_weights.pth: same
    instances; DetInferencer writes the visualisation and RLE masks that decode to them."""
    from mmdet.apis import DetInferencer, inference_detector, init_detector
    from pycocotools import mask as mask_utils

    import segclassics.mmdet  # noqa: F401

    weights = str(mmdet_run / "last_weights.pth")
    image = val_images(synthetic_root)[0]
    from mmengine.config import Config

    config = Config.fromfile(str(MASK_RCNN))
    config.merge_from_dict(MMDET_ALL_ROIS)
    model = init_detector(config, weights, device="cpu")
    assert list(model.dataset_meta["classes"]) == list(synthetic.CLASSES[1:])
    pred = inference_detector(model, str(image)).pred_instances
    assert pred.masks.shape == (100, 64, 64)  # every RoI kept (max_per_img), at the image's size

    inferencer = DetInferencer(model=config, weights=weights, device="cpu")
    inferencer(str(image), out_dir=str(tmp_path), no_save_pred=False)
    assert os.listdir(tmp_path / "vis") == [image.name]
    assert png(tmp_path / "vis" / image.name).shape == (64, 64, 3)
    saved = json.loads((tmp_path / "preds" / f"{image.stem}.json").read_text())
    masks = np.stack([mask_utils.decode({"size": m["size"], "counts": m["counts"].encode()}) for m in saved["masks"]])
    assert np.array_equal(masks.astype(bool), pred.masks.numpy())
    assert saved["labels"] == pred.labels.tolist()


# ----------------------------------------------------------------------------- detectron2 APIs


def _d2_yaml_cfg(weights: Path):
    from detectron2.config import get_cfg

    import segclassics.detectron2  # noqa: F401
    from segclassics.detectron2.config import add_segclassics_config

    cfg = add_segclassics_config(get_cfg())
    cfg.merge_from_file(str(D2_YAML))
    cfg.MODEL.WEIGHTS = str(weights)
    cfg.MODEL.DEVICE = "cpu"
    return cfg


@pytest.mark.slow
def test_detectron2_default_predictor_with_our_yaml(d2_run, synthetic_root):
    from detectron2.engine import DefaultPredictor

    weights = d2_run / "last_weights.pth"
    with no_allow_list():
        published = torch.load(weights)
    assert set(published) == {"model", "meta"}
    predictor = DefaultPredictor(_d2_yaml_cfg(weights))
    loaded = predictor.model.state_dict()
    assert loaded.keys() == published["model"].keys()
    assert all(torch.equal(loaded[k], published["model"][k]) for k in loaded)
    image = val_images(synthetic_root)[0]
    out = predictor(rgb_of(image)[:, :, ::-1])  # DefaultPredictor takes OpenCV's BGR
    assert out["sem_seg"].shape == (len(synthetic.CLASSES), 64, 64)


@pytest.mark.slow
def test_detectron2_training_checkpoint_loads_as_it_is(d2_run):
    """docs/inference.md: detectron2's own model_final.pth of our run loads with torch's default
    weights-only reading (no allow-list) and with detectron2's DetectionCheckpointer."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import LazyConfig, instantiate

    import segclassics.detectron2  # noqa: F401

    final = d2_run / "model_final.pth"
    with no_allow_list():
        state = torch.load(final)
        model = instantiate(LazyConfig.load(str(D2_LAZY)).model).eval()
        DetectionCheckpointer(model).load(str(final))
    assert state["iteration"] == 1  # detectron2 counts from 0: the last of 2 iterations
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state["model"].items())


@pytest.mark.slow
@pytest.mark.parametrize("safe", [False, True], ids=["DetectionCheckpointer", "SafeDetectionCheckpointer"])
def test_detectron2_lazyconfig_model_with_detection_checkpointer(d2_run, synthetic_root, safe):
    """The LazyConfig builds the yaml's network: detectron2's own checkpointer (users' code) and
    ours load last_weights.pth into it; its prediction is the argmax of the head's logits."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import LazyConfig, instantiate

    import segclassics.detectron2  # noqa: F401
    from segclassics.detectron2.checkpointer import SafeDetectionCheckpointer
    from segclassics.utils.checkpoint import check_state_dict

    cfg = LazyConfig.load(str(D2_LAZY))
    model = instantiate(cfg.model).eval()
    weights = d2_run / "last_weights.pth"
    with no_allow_list():
        state = torch.load(weights)["model"]
    check_state_dict(model, state)  # exactly the same keys and shapes
    (SafeDetectionCheckpointer if safe else DetectionCheckpointer)(model).load(str(weights))
    assert all(torch.equal(model.state_dict()[k], state[k]) for k in state)
    rgb = rgb_of(val_images(synthetic_root)[0])
    x = torch.from_numpy(rgb).permute(2, 0, 1).float()
    with torch.no_grad():
        out = model([{"image": x, "height": 64, "width": 64}])[0]["sem_seg"]
        normalised = (x - torch.tensor(cfg.model.pixel_mean).view(-1, 1, 1)) / torch.tensor(cfg.model.pixel_std).view(
            -1, 1, 1
        )
        logits = model.sem_seg_head.layers(model.backbone(normalised[None]))
    assert np.array_equal(out.argmax(0).numpy(), logits.argmax(1)[0].numpy())


# ----------------------------------------------------------------------------- tools/infer.py


def _odd_inputs(folder: Path, rgb: np.ndarray) -> dict:
    """Convertible and unusable images next to each other: name -> expected RGB (None: skipped)."""
    folder.mkdir()
    Image.fromarray(rgb[..., 1]).save(folder / "grey.png")
    Image.fromarray(rgb).quantize(colors=16).save(folder / "pal.png")  # palette mode
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    Image.fromarray(rgba).save(folder / "opaque.png")
    rgba[3, 5, 3] = 0
    Image.fromarray(rgba).save(folder / "clear.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(40)))
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(folder / "deep.png")
    Image.new("CMYK", (16, 16), (1, 2, 3, 4)).save(folder / "cmyk.jpg")
    return {
        "grey": np.repeat(rgb[..., 1:2], 3, axis=2),
        "pal": rgb_of(folder / "pal.png"),
        "opaque": rgb,
        "clear": None,
        "corrupt": None,
        "deep": None,
        "cmyk": None,
    }


@pytest.mark.slow
def test_infer_mmseg_labels_are_the_logits_argmax(mmseg_run, synthetic_root, tmp_path, capsys):
    """A folder, a glob and a single file; unusable images are reported by name and skipped;
    every label PNG is the argmax of the model's logits on the (converted) image, every overlay
    the 50 % blend with the dataset's palette; exit status 3 (some skipped)."""
    from mmseg.apis import init_model

    import segclassics.mmseg  # noqa: F401

    weights = mmseg_run / "last_weights.pth"
    vals = val_images(synthetic_root)
    odd = tmp_path / "odd"
    expected = {p.stem: rgb_of(p) for p in vals}
    expected.update(_odd_inputs(odd, rgb_of(vals[0])))
    out = tmp_path / "out"
    rc, stdout, stderr = run_infer(
        capsys,
        UNET,
        weights,
        synthetic_root / "img_dir" / "val",
        f"{odd}/*.png",
        odd / "cmyk.jpg",
        "--out",
        out,
        "--batch",
        "3",
    )
    skipped = sorted(line for line in stderr.splitlines() if "skipped: " in line)
    assert [line[line.index("skipped: ") :] for line in skipped] == [
        f"skipped: {odd}/clear.png: has transparent pixels (mode RGBA, 1 pixels with alpha < 255); flatten it onto "
        f"the background you want first",
        f"skipped: {odd}/cmyk.jpg: mode CMYK image; the model takes RGB images and converting CMYK needs a choice "
        f"(colour profile, weights): convert it to RGB yourself",
        f"skipped: {odd}/corrupt.png: cannot read it as an image (UnidentifiedImageError: cannot identify image file "
        f"'{odd}/corrupt.png'); the file is corrupt, truncated or not an image",
        f"skipped: {odd}/deep.png: 16-bit image (mode I;16); the model takes 8-bit images: convert it to 8 bit with "
        f"the scaling your training images had",
    ]
    assert stdout.splitlines()[-1] == f"summary: 7 done, 4 skipped; outputs in {out}"
    assert rc == 3
    assert "images/s" in stderr  # the progress bar's rate
    done = sorted(name for name, rgb in expected.items() if rgb is not None)
    assert sorted(p.stem for p in (out / "labels").iterdir()) == done
    assert sorted(p.stem for p in (out / "overlays").iterdir()) == done
    model = init_model(str(UNET), str(weights), device="cpu")
    for name in done:
        labels = png(out / "labels" / f"{name}.png")
        assert labels.dtype == np.uint8
        assert np.array_equal(labels, mm_logits_argmax(model, expected[name])), name
        overlay = png(out / "overlays" / f"{name}.png")
        assert np.array_equal(overlay, expected_overlay(expected[name], labels, synthetic.PALETTE)), name


@pytest.mark.slow
def test_infer_detectron2_yaml_and_lazy(d2_run, synthetic_root, tmp_path, capsys):
    """Both detectron2 config kinds with the same weights: the yaml run equals DefaultPredictor
    (test-time resize 64 -> 128 -> 64), the LazyConfig run (no resize) its model's own output."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import LazyConfig, instantiate
    from detectron2.engine import DefaultPredictor

    import segclassics.detectron2  # noqa: F401

    weights = d2_run / "last_weights.pth"
    vals = val_images(synthetic_root)
    predictor = DefaultPredictor(_d2_yaml_cfg(weights))
    lazy_model = instantiate(LazyConfig.load(str(D2_LAZY)).model).eval()
    DetectionCheckpointer(lazy_model).load(str(weights))
    for config, name in ((D2_YAML, "yaml"), (D2_LAZY, "lazy")):
        out = tmp_path / name
        rc, stdout, _ = run_infer(capsys, config, weights, *vals, "--out", out, "--batch", "2")
        assert rc == 0 and stdout.splitlines()[-1] == f"summary: 4 done, 0 skipped; outputs in {out}"
        for path in vals:
            rgb = rgb_of(path)
            if name == "yaml":
                reference = predictor(rgb[:, :, ::-1])["sem_seg"].argmax(0).numpy()
            else:
                with torch.no_grad():
                    x = torch.from_numpy(rgb).permute(2, 0, 1).float()
                    reference = lazy_model([{"image": x, "height": 64, "width": 64}])[0]["sem_seg"].argmax(0).numpy()
            labels = png(out / "labels" / f"{path.stem}.png")
            assert np.array_equal(labels, reference), (name, path.name)
            # colours: the registered dataset's stuff_colors
            assert np.array_equal(
                png(out / "overlays" / f"{path.stem}.png"), expected_overlay(rgb, labels, synthetic.PALETTE)
            )


def _decoded(annotation) -> np.ndarray:
    from pycocotools import mask as mask_utils

    rle = annotation["segmentation"]
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)


def _check_coco_json(out: Path, images, references, classes) -> None:
    """instances.json holds, per image, exactly the reference instances (same order): RLE masks
    that decode to their masks, boxes as [x, y, w, h], scores, category ids 1..K."""
    data = json.loads((out / "instances.json").read_text())
    assert data["categories"] == [{"id": k + 1, "name": n} for k, n in enumerate(classes)]
    assert [i["file_name"] for i in data["images"]] == [str(p) for p in images]
    for image, reference in zip(data["images"], references):
        found = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        assert len(found) == len(reference.scores) > 0
        for a, box, score, label, mask in zip(
            found, reference.boxes, reference.scores, reference.labels, reference.masks
        ):
            assert np.array_equal(_decoded(a), mask)
            assert a["area"] == int(mask.sum())
            x1, y1, x2, y2 = (float(v) for v in box)
            assert a["bbox"] == [x1, y1, x2 - x1, y2 - y1]
            assert a["score"] == float(score) and a["category_id"] == int(label) + 1


@pytest.mark.slow
def test_infer_mmdet_coco_json_matches_inference_detector(mmdet_run, synthetic_root, tmp_path, capsys):
    from mmdet.apis import inference_detector, init_detector

    import segclassics.mmdet  # noqa: F401
    from segclassics.engine.inference import InstancePrediction

    weights = mmdet_run / "last_weights.pth"
    images = val_images(synthetic_root)[:2]
    out = tmp_path / "out"
    rc, stdout, _ = run_infer(
        capsys,
        MASK_RCNN,
        weights,
        *images,
        "--out",
        out,
        "--score-thr",
        "0",
        "--cfg-options",
        *(f"{k}={v}" for k, v in MMDET_ALL_ROIS.items()),
    )
    assert rc == 0 and stdout.splitlines()[-1] == f"summary: 2 done, 0 skipped; outputs in {out}"
    assert sorted(os.listdir(out / "overlays")) == [p.name for p in images]
    model = init_detector(str(MASK_RCNN), str(weights), device="cpu", cfg_options=MMDET_ALL_ROIS)
    references = []
    for path in images:
        pred = inference_detector(model, str(path)).pred_instances
        references.append(
            InstancePrediction(pred.bboxes.numpy(), pred.scores.numpy(), pred.labels.numpy(), pred.masks.numpy())
        )
    _check_coco_json(out, images, references, synthetic.CLASSES[1:])


# the dataset_meta a detectron2 run writes into last_weights.pth (stuff_* as classes/palette, thing_* as
# thing_classes/thing_palette); a Mask R-CNN's categories are the thing classes
D2_INSTANCE_META = {
    "dataset_meta": {
        "thing_classes": [f"shape {k}" for k in range(5)],
        "thing_palette": [[40 * k, 0, 0] for k in range(5)],
    }
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "meta, names",
    [({}, [f"class_{k}" for k in range(5)]), (D2_INSTANCE_META, [f"shape {k}" for k in range(5)])],
    ids=["no-meta", "run-meta"],
)
def test_infer_detectron2_instances(synthetic_root, tmp_path, capsys, meta, names):
    """detectron2 instance path (a tiny Mask R-CNN LazyConfig, untrained weights): the JSON holds
    what the model itself returns for the BGR image it takes, and the categories are named by
    the weights' thing classes (numbered when the weights name none)."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import LazyConfig, instantiate

    import segclassics.detectron2  # noqa: F401
    from segclassics.engine.inference import InstancePrediction

    weights = random_weights(D2_TINY_MASK_RCNN, tmp_path / "w.pth", meta=meta)
    image = val_images(synthetic_root)[0]
    out = tmp_path / "out"
    rc, _, _ = run_infer(
        capsys, D2_TINY_MASK_RCNN, weights, image, "--out", out, "--score-thr", "0", "--cfg-options", *D2_ALL_ROIS
    )
    assert rc == 0
    cfg = LazyConfig.apply_overrides(LazyConfig.load(str(D2_TINY_MASK_RCNN)), D2_ALL_ROIS)
    model = instantiate(cfg.model).eval()
    DetectionCheckpointer(model).load(str(weights))
    with torch.no_grad():
        bgr = torch.from_numpy(rgb_of(image)[:, :, ::-1].copy()).permute(2, 0, 1).float()
        inst = model([{"image": bgr, "height": 64, "width": 64}])[0]["instances"]
    reference = InstancePrediction(
        inst.pred_boxes.tensor.numpy(), inst.scores.numpy(), inst.pred_classes.numpy(), inst.pred_masks.numpy()
    )
    _check_coco_json(out, [image], [reference], names)


@pytest.mark.slow
def test_infer_valid_unet_overlap_tile_any_size(tmp_path, capsys):
    """The paper's valid UNet (CPU width, 380 -> 196 px tiles) on grey images of any size; an image
    exactly one output tile big is the network's output on the image mirrored by the 92 px border
    (computed with torch's own reflect padding); a colour image is refused for this grey model."""
    from segclassics.engine.inference import build_predictor

    weights = random_weights(VALID_UNET, tmp_path / "w.pth")
    rng = np.random.RandomState(0)
    folder = tmp_path / "in"
    folder.mkdir()
    sizes = {"one_tile": (196, 196), "odd": (250, 301), "tiny": (17, 31)}
    for name, size in sizes.items():
        Image.fromarray(rng.randint(0, 256, size, dtype=np.uint8)).save(folder / f"{name}.png")
    Image.fromarray(rng.randint(0, 256, (20, 20, 3), dtype=np.uint8)).save(folder / "colour.png")
    out = tmp_path / "out"
    rc, stdout, stderr = run_infer(capsys, VALID_UNET, weights, folder, "--out", out)
    assert rc == 3 and stdout.splitlines()[-1] == f"summary: 3 done, 1 skipped; outputs in {out}"
    assert (
        f"skipped: {folder}/colour.png: colour image (mode RGB) but the model takes grey images: convert it to "
        f"grey (mode L) with the conversion your training images had" in stderr
    )
    for name, size in sizes.items():
        assert png(out / "labels" / f"{name}.png").shape == size
    model = build_predictor(str(VALID_UNET), str(weights)).model
    grey = torch.from_numpy(png(folder / "one_tile.png")).float()[None, None]
    x = torch.nn.functional.pad((grey - 127.5) / 127.5, (92, 92, 92, 92), mode="reflect")
    with torch.no_grad():
        logits = model.decode_head.forward(model.extract_feat(x))
    assert logits.shape[-2:] == (196, 196)
    assert np.array_equal(png(out / "labels" / "one_tile.png"), logits.argmax(1)[0].numpy())


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["infer.py", "publish_model.py", "export_onnx.py"])
def test_tools_refuse_code_running_checkpoints(run_tool, tmp_path, synthetic_root, tool):
    marker = tmp_path / "ran"
    evil = malicious_checkpoint(tmp_path / "evil.pth", marker)
    if tool == "infer.py":
        args = [UNET, evil, val_images(synthetic_root)[0], "--out", tmp_path / "out"]
    elif tool == "export_onnx.py":
        args = [UNET, evil, "--out", tmp_path / "out.onnx"]
    else:
        args = [evil, tmp_path / "published.pth"]
    assert error_message(run_tool(tool, *args)) == refusal(evil)
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pth"]


@pytest.mark.slow
def test_publish_model_writes_weights_only_file_named_by_its_hash(mmseg_run, run_tool, tmp_path):
    from mmseg.apis import init_model

    import segclassics.mmseg  # noqa: F401
    from segclassics.utils.checkpoint import read_state_dict

    proc = run_tool("publish_model.py", mmseg_run / "iter_2.pth", tmp_path / "unet_synthetic.pth")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (published,) = tmp_path.iterdir()
    sha = hashlib.sha256(published.read_bytes()).hexdigest()
    assert published.name == f"unet_synthetic-{sha[:8]}.pth"
    assert proc.stdout.splitlines()[-1] == f"published: {published} (sha256 {sha})"
    with no_allow_list():
        data = torch.load(published)
    assert set(data) == {"state_dict", "meta"}
    assert data["meta"]["dataset_meta"]["classes"] == list(synthetic.CLASSES)
    assert data["meta"]["source"] == "iter_2.pth"
    trained = read_state_dict(str(mmseg_run / "iter_2.pth"))
    assert data["state_dict"].keys() == trained.keys()
    assert all(torch.equal(data["state_dict"][k], trained[k]) for k in trained)
    model = init_model(str(UNET), str(published), device="cpu")
    assert list(model.dataset_meta["classes"]) == list(synthetic.CLASSES)


def test_publish_model_keeps_a_file_named_out(mmseg_run, tmp_path):
    """OUT is only the stem of the name: an existing file called OUT (a run's last_weights.pth)
    is left as it is, and no temporary file stays behind."""
    from segclassics.engine.publish_cli import publish

    out = tmp_path / "last_weights.pth"
    out.write_bytes(b"the run's own weights")
    final, sha = publish(str(mmseg_run / "iter_2.pth"), str(out))
    assert out.read_bytes() == b"the run's own weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["last_weights.pth", f"last_weights-{sha[:8]}.pth"])
    assert final == str(tmp_path / f"last_weights-{sha[:8]}.pth")


def test_amp_runs_the_model_in_bfloat16_on_cpu(tmp_path, monkeypatch):
    """On a CPU with native bf16 (forced here: this test must hold on any CPU) --amp autocasts."""
    from segclassics.engine import cpu_precision
    from segclassics.engine.inference import build_predictor

    monkeypatch.setattr(cpu_precision, "cpu_bf16_supported", lambda: True)
    weights = random_weights(UNET, tmp_path / "w.pth")
    image = np.zeros((32, 32, 3), np.uint8)
    for amp, dtype in ((False, torch.float32), (True, torch.bfloat16)):
        predictor = build_predictor(str(UNET), str(weights), "cpu", amp=amp)
        seen = []
        conv = next(m for m in predictor.model.modules() if isinstance(m, torch.nn.Conv2d))
        conv.register_forward_hook(lambda module, args, output, seen=seen: seen.append(output.dtype))
        (result,) = predictor.predict([image])
        assert seen == [dtype] and result.labels.shape == (32, 32)


def test_infer_argument_errors(tmp_path, capsys):
    image = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(image)
    cases = [(["--batch", "0"], "--batch 0: give at least 1"), ([], f"checkpoint not found: '{tmp_path / 'none.pth'}'")]
    if not torch.cuda.is_available():
        cases.append((["--device", "cuda"], "--device cuda: no CUDA device is available here; use --device cpu"))
    for extra, message in cases:
        rc, _, stderr = run_infer(capsys, UNET, tmp_path / "none.pth", image, "--out", tmp_path / "o", *extra)
        assert rc == 2 and stderr.strip().splitlines() == [f"error: {message}"]


# ----------------------------------------------------------------------------- reading images


def _save(path: Path, image) -> Path:
    image.save(path)
    return path


def test_read_image_converts_only_exactly(tmp_path):
    rgb = np.random.RandomState(0).randint(0, 256, (6, 7, 3), dtype=np.uint8)
    grey = rgb[..., 0]
    opaque = _save(tmp_path / "rgba.png", Image.fromarray(np.dstack([rgb, np.full((6, 7), 255, np.uint8)])))
    bilevel = _save(tmp_path / "1.png", Image.fromarray(grey > 127))
    grey_rgb = _save(tmp_path / "grey_rgb.png", Image.fromarray(np.repeat(grey[..., None], 3, axis=2)))
    assert np.array_equal(read_image(str(opaque), "RGB"), rgb)
    assert np.array_equal(
        read_image(str(_save(tmp_path / "l.png", Image.fromarray(grey))), "RGB"), np.repeat(grey[..., None], 3, axis=2)
    )
    assert np.array_equal(read_image(str(bilevel), "L"), np.where(grey > 127, 255, 0))
    assert np.array_equal(read_image(str(grey_rgb), "L"), grey)
    la = _save(tmp_path / "la.png", Image.fromarray(np.dstack([grey, np.full((6, 7), 255, np.uint8)]), "LA"))
    assert np.array_equal(read_image(str(la), "L"), grey)
    # EXIF orientation 6 (rotate 90 clockwise to display), as OpenCV and detectron2 apply it
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = tmp_path / "rot.jpg"
    Image.fromarray(rgb).save(rotated, exif=exif, quality=100)
    assert read_image(str(rotated), "RGB").shape == (7, 6, 3)


@pytest.mark.parametrize(
    "name,make,mode,reason",
    [
        (
            "f.tif",
            lambda: Image.fromarray(np.zeros((4, 4), np.float32)),
            "L",
            "32-bit image (mode F); the model takes 8-bit images: convert it to 8 bit with the scaling your training "
            "images had",
        ),
        (
            "rgb.png",
            lambda: Image.fromarray(np.dstack([np.zeros((4, 4), np.uint8)] * 2 + [np.ones((4, 4), np.uint8)])),
            "L",
            "colour image (mode RGB) but the model takes grey images: convert it to grey (mode L) with the conversion "
            "your training images had",
        ),
        (
            "cmyk.tif",
            lambda: Image.new("CMYK", (4, 4)),
            "L",
            "mode CMYK image; the model takes grey (L) images and converting CMYK needs a choice (colour profile, "
            "weights): convert it to L yourself",
        ),
    ],
)
def test_read_image_refusals(tmp_path, name, make, mode, reason):
    path = _save(tmp_path / name, make())
    with pytest.raises(ImageInputError) as info:
        read_image(str(path), mode)
    assert str(info.value) == f"{path}: {reason}"


def test_read_image_refuses_animations_and_truncated_files(tmp_path):
    frames = [Image.new("L", (4, 4), v) for v in (0, 255)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    with pytest.raises(ImageInputError, match=r"anim\.gif: has 2 frames \(an animation or multi-page file\)"):
        read_image(str(gif), "RGB")
    jpeg = tmp_path / "cut.jpg"
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (64, 64, 3), dtype=np.uint8)).save(jpeg)
    jpeg.write_bytes(jpeg.read_bytes()[:-200])
    with pytest.raises(ImageInputError) as info:
        read_image(str(jpeg), "RGB")
    assert str(info.value).startswith(f"{jpeg}: cannot read it as an image (OSError: image file is truncated")


def test_find_inputs_files_folders_globs(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for rel in ("d/a.png", "d/sub/b.JPG", "d/notes.txt", "c.png", "e/f.png"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = find_inputs(
        [str(tmp_path / "d"), str(tmp_path / "c.png"), str(tmp_path / "e" / "*.png"), str(tmp_path / "d" / "a.png")]
    )
    assert [(Path(i.path).relative_to(tmp_path).as_posix(), i.name) for i in found] == [
        ("d/a.png", "a"),
        ("d/sub/b.JPG", "sub/b"),
        ("c.png", "c"),
        ("e/f.png", "f"),
    ]
    (tmp_path / "e" / "c.png").write_bytes(b"")
    for args, message in [
        ([str(tmp_path / "nope.png")], f"input '{tmp_path / 'nope.png'}': no such file or folder"),
        ([str(tmp_path / "*.bmp")], f"input pattern '{tmp_path / '*.bmp'}' matches no image file"),
        (
            [str(tmp_path / "c.png"), str(tmp_path / "e")],
            f"inputs '{tmp_path / 'c.png'}' and '{tmp_path / 'e' / 'c.png'}' would both be written as 'c'.png; give "
            f"them in separate runs (or folders) with different --out",
        ),
    ]:
        with pytest.raises(UserError) as info:
            find_inputs(args)
        assert str(info.value) == message


# ----------------------------------------------------------------------------- real data


@pytest.mark.slow
@pytest.mark.parametrize(
    "dataset,config,pattern,size",
    [
        ("camvid", SEGNET_CAMVID, "images/val/*.jpg", (360, 480)),
        ("isbi2012", VALID_UNET, "images/test/1?.png", (512, 512)),
    ],
)
def test_infer_on_the_real_images(shared_data, tmp_path, capsys, dataset, config, pattern, size):
    """The real images as users have them (CamVid val JPEGs, ISBI test slices): every image is
    predicted at its own size (SegNet-Basic CPU resizes to 120x160 and back, the valid UNet tiles)."""
    root = shared_data(dataset)
    images = sorted(root.glob(pattern))[:2]
    weights = random_weights(config, tmp_path / "w.pth")
    out = tmp_path / "out"
    rc, stdout, _ = run_infer(capsys, config, weights, *images, "--out", out)
    assert rc == 0 and stdout.splitlines()[-1] == f"summary: 2 done, 0 skipped; outputs in {out}"
    for path in images:
        assert png(out / "labels" / f"{path.stem}.png").shape == size
        assert png(out / "overlays" / f"{path.stem}.png").shape == (*size, 3)


def test_valid_unet_without_overlap_tile_is_refused(tmp_path):
    from segclassics.engine.inference import build_predictor

    weights = random_weights(VALID_UNET, tmp_path / "w.pth")
    with pytest.raises(UserError) as info:
        build_predictor(str(VALID_UNET), str(weights), "cpu", ["model.test_cfg.mode=whole"])
    assert str(info.value) == (
        f"{VALID_UNET}: this UNet has valid (unpadded) convolutions, so its output is smaller than its input; "
        f"predicting needs overlap-tile inference: use model.type='OverlapTileEncoderDecoder' with "
        f"model.test_cfg.mode='overlap_tile' and a tile_size (see configs/unet/unet_valid_isbi2012.py)"
    )


def test_an_image_the_model_refuses_is_skipped_by_name(tmp_path, capsys):
    """The 'same' UNet of unet_synthetic.py takes multiples of 8 only (the config pads test images
    to them; without that padding): in a batch of two, the image it refuses is reported by name
    and size and skipped, the other one is predicted."""
    weights = random_weights(UNET, tmp_path / "w.pth")
    odd, fine = tmp_path / "odd.png", tmp_path / "fine.png"
    Image.new("RGB", (45, 30)).save(odd)
    Image.new("RGB", (64, 64)).save(fine)
    out = tmp_path / "out"
    rc, stdout, stderr = run_infer(
        capsys,
        UNET,
        weights,
        odd,
        fine,
        "--out",
        out,
        "--batch",
        "2",
        "--cfg-options",
        "model.data_preprocessor.test_cfg=None",
    )
    assert rc == 3 and stdout.splitlines()[-1] == f"summary: 1 done, 1 skipped; outputs in {out}"
    (line,) = [line[line.index("skipped: ") :] for line in stderr.splitlines() if "skipped: " in line]
    assert line.startswith(
        f"skipped: {odd}: the model cannot take this 45x30 image (after the config's test pipeline): input height "
    )
    assert "is not valid for a UNet with depth=4, padding='same'" in line
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["fine.png"]


def test_head_num_classes_reads_the_first_head_that_says():
    from torch import nn

    from segclassics.engine.inference import head_num_classes

    def head(k):
        m = nn.Module()
        m.num_classes = k
        return m

    seg = nn.Module()
    seg.decode_head = head(19)
    assert head_num_classes(seg, ("decode_head", "roi_heads")) == 19
    cascade = nn.Module()
    cascade.roi_head = nn.Module()
    cascade.roi_head.bbox_head = nn.ModuleList([head(3), head(4), head(5)])
    assert head_num_classes(cascade, ("decode_head", "roi_head.bbox_head")) == 5  # the last stage
    assert head_num_classes(cascade, ("sem_seg_head",)) is None
    assert head_num_classes(nn.Module(), ("decode_head",)) is None
