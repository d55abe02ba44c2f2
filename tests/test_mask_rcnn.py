"""Mask R-CNN (He et al. 2017) through detectron2 and mmdet: RoIAlign, mask head shape,
COCO-format data checks, overlays, and 2-iteration trainings through tools/train.py.

Independent facts used:
* RoIAlign (paper Sec. 3, "RoIAlign"): no quantisation of RoI boundaries or bins; each bin
  averages bilinear samples at regularly spaced *fractional* points. Bilinear interpolation
  reproduces a linear function exactly, so on f(y, x) = a*x + b*y + c a bin's value is f at
  the bin centre (shifted by -0.5 px for the pixel-centre ``aligned`` convention that
  detectron2's ROIAlignV2 and mmcv's RoIAlign(aligned=True) use). A general feature map is
  checked against a hand-written bilinear sampler.
* Mask branch (paper Sec. 3 and Fig. 4, FPN head): K x m x m per RoI, m = 28.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import REPO

D2_CONFIGS = REPO / "configs" / "detectron2"


# ----------------------------------------------------------------------------- RoIAlign


def _bilinear(feat: np.ndarray, y: float, x: float) -> float:
    """Hand bilinear sample of a (H, W) map at a fractional point (inside the map)."""
    h, w = feat.shape
    y0, x0 = int(math.floor(y)), int(math.floor(x))
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    ly, lx = y - y0, x - x0
    return (
        (1 - ly) * (1 - lx) * feat[y0, x0]
        + (1 - ly) * lx * feat[y0, x1]
        + ly * (1 - lx) * feat[y1, x0]
        + ly * lx * feat[y1, x1]
    )


def _hand_roi_align(feat: np.ndarray, box, out: int, sr: int, aligned: bool) -> np.ndarray:
    off = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (v - off for v in box)
    bh, bw = (y2 - y1) / out, (x2 - x1) / out
    res = np.zeros((out, out))
    for i in range(out):
        for j in range(out):
            pts = [
                _bilinear(feat, y1 + (i + (sy + 0.5) / sr) * bh, x1 + (j + (sx + 0.5) / sr) * bw)
                for sy in range(sr)
                for sx in range(sr)
            ]
            res[i, j] = np.mean(pts)
    return res


BOX = (1.3, 2.2, 6.9, 6.1)  # fractional on purpose: quantisation would move it to integers


def test_roi_align_linear_map_gives_bin_centres():
    from torchvision.ops import roi_align

    a, b, c = 0.7, -1.3, 2.0
    yy, xx = np.mgrid[0:10, 0:12].astype(np.float64)
    feat = torch.tensor(a * xx + b * yy + c, dtype=torch.float64)[None, None]
    out = 4
    got = roi_align(
        feat,
        torch.tensor([[0, *BOX]], dtype=torch.float64),
        output_size=out,
        spatial_scale=1.0,
        sampling_ratio=2,
        aligned=True,
    )[0, 0].numpy()
    x1, y1, x2, y2 = BOX
    cx = x1 + (np.arange(out) + 0.5) * (x2 - x1) / out - 0.5
    cy = y1 + (np.arange(out) + 0.5) * (y2 - y1) / out - 0.5
    expect = a * cx[None, :] + b * cy[:, None] + c
    np.testing.assert_allclose(got, expect, atol=1e-9)


@pytest.mark.parametrize("sampling_ratio", [1, 2, 3])
def test_roi_align_matches_hand_bilinear_and_differs_from_roi_pool(sampling_ratio):
    from torchvision.ops import roi_align, roi_pool

    rng = np.random.default_rng(0)
    feat_np = rng.normal(size=(9, 11))
    feat = torch.tensor(feat_np)[None, None]
    rois = torch.tensor([[0, *BOX]], dtype=torch.float64)
    got = roi_align(feat, rois, 3, 1.0, sampling_ratio, aligned=True)[0, 0].numpy()
    np.testing.assert_allclose(got, _hand_roi_align(feat_np, BOX, 3, sampling_ratio, aligned=True), atol=1e-9)
    # RoIPool (Fast R-CNN) quantises the box and the bins: a different answer on the same RoI
    pooled = roi_pool(feat, rois, 3, 1.0)[0, 0].numpy()
    assert not np.allclose(pooled, got, atol=1e-3)


def test_detectron2_config_uses_aligned_roi_align():
    """The configs' box and mask poolers are ROIAlignV2 = detectron2 ROIAlign(aligned=True)."""
    from detectron2.config import LazyConfig, instantiate
    from detectron2.layers import ROIAlign
    from detectron2.structures import Boxes

    cfg = LazyConfig.load(str(D2_CONFIGS / "mask_rcnn_R_50_FPN_isbi2012.py"))
    for key in ("box_pooler", "mask_pooler"):
        assert cfg.model.roi_heads[key].pooler_type == "ROIAlignV2"
    # a one-level pooler (scale 1) on a random map equals the hand bilinear computation
    pooler_cfg = cfg.model.roi_heads.mask_pooler
    pooler_cfg.scales, pooler_cfg.output_size, pooler_cfg.sampling_ratio = (1.0,), 3, 2
    pooler = instantiate(pooler_cfg)
    assert isinstance(pooler.level_poolers[0], ROIAlign) and pooler.level_poolers[0].aligned
    feat_np = np.random.default_rng(1).normal(size=(9, 11)).astype(np.float32)
    got = pooler([torch.tensor(feat_np)[None, None]], [Boxes(torch.tensor([BOX], dtype=torch.float32))])[0, 0]
    np.testing.assert_allclose(got.numpy(), _hand_roi_align(feat_np.astype(np.float64), BOX, 3, 2, True), atol=1e-5)


def test_mmcv_roi_align_aligned_matches_hand_bilinear():
    pytest.importorskip("mmcv", reason="mmcv (the mmseg / mmdet extra) is not installed")
    import mmcv.ops as ops  # mmcv 2.1.0 full is the pinned build: missing ops are a broken install, not a skip

    feat_np = np.random.default_rng(2).normal(size=(9, 11)).astype(np.float32)
    layer = ops.RoIAlign(output_size=3, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    got = layer(torch.tensor(feat_np)[None, None], torch.tensor([[0, *BOX]], dtype=torch.float32))[0, 0]
    np.testing.assert_allclose(got.numpy(), _hand_roi_align(feat_np.astype(np.float64), BOX, 3, 2, True), atol=1e-5)


# ----------------------------------------------------------------------------- mask head


def test_detectron2_mask_head_outputs_K_m_m_per_roi():
    from detectron2.config import LazyConfig, instantiate

    cfg = LazyConfig.load(str(D2_CONFIGS / "mask_rcnn_R_50_FPN_voc_tiny.py"))
    head_cfg = cfg.model.roi_heads.mask_head
    head_cfg.num_classes = cfg.model.roi_heads.num_classes
    head_cfg.conv_dims = [8, 8]  # tiny widths, same structure (convs + 2x deconv + 1x1 predictor)
    head_cfg.input_shape.channels = 8
    head = instantiate(head_cfg)
    rois = torch.randn(5, 8, cfg.model.roi_heads.mask_pooler.output_size, cfg.model.roi_heads.mask_pooler.output_size)
    out = head.layers(rois)
    assert tuple(out.shape) == (5, 20, 28, 28)  # K = 20 VOC classes, m = 28


# ----------------------------------------------------------------------------- COCO checks


def _write_png(path: Path, h=20, w=24):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(path)


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_util

    r = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    r["counts"] = r["counts"].decode()
    return r


def _bad_coco(root: Path) -> Path:
    """Hand-made COCO json: 2 good instances and one of each bad kind."""
    _write_png(root / "img" / "a.png")
    _write_png(root / "img" / "b.png")
    good_mask = np.zeros((20, 24), bool)
    good_mask[2:8, 3:9] = True
    anns = [
        dict(id=1, image_id=1, category_id=1, bbox=[3, 2, 6, 6], segmentation=_rle(good_mask), area=36, iscrowd=0),
        dict(
            id=2,
            image_id=2,
            category_id=2,
            bbox=[1, 1, 5, 5],
            area=16,
            iscrowd=0,
            segmentation=[[1, 1, 6, 1, 6, 6, 1, 6], [2, 2, 3, 3]],
        ),  # 2nd polygon degenerate
        dict(id=3, image_id=1, category_id=1, bbox=[3, 2, 6, 6], segmentation=[], area=0, iscrowd=0),  # empty
        dict(id=4, image_id=1, category_id=1, bbox=[3, 2, 6, 6], segmentation=[[1, 1, 2, 2]], iscrowd=0),  # <3 pts
        dict(
            id=5, image_id=1, category_id=1, bbox=[3, 2, 6, 6], iscrowd=0, segmentation=_rle(np.zeros((20, 24), bool))
        ),  # RLE with no pixel
        dict(id=6, image_id=1, category_id=1, bbox=[3, 2, 0, 6], segmentation=_rle(good_mask), iscrowd=0),  # w=0
        dict(id=7, image_id=1, category_id=9, bbox=[3, 2, 6, 6], segmentation=_rle(good_mask), iscrowd=0),  # no cat
        dict(id=8, image_id=1, category_id=0, bbox=[3, 2, 6, 6], segmentation=_rle(good_mask), iscrowd=0),  # bg
        dict(id=9, image_id=77, category_id=1, bbox=[3, 2, 6, 6], segmentation=_rle(good_mask), iscrowd=0),  # no img
        dict(id=10, image_id=1, category_id=1, bbox=[3, 2, float("nan"), 6], segmentation=_rle(good_mask), iscrowd=0),
    ]
    coco = dict(
        images=[
            dict(id=1, file_name="img/a.png", height=20, width=24),
            dict(id=2, file_name="img/b.png", height=20, width=24),
        ],
        categories=[dict(id=0, name="_background_"), dict(id=1, name="cat"), dict(id=2, name="dog")],
        annotations=anns,
    )
    path = root / "ann.json"
    path.write_text(json.dumps(coco))
    return path


def test_clean_coco_skips_bad_annotations_with_counts(tmp_path, caplog):
    from segclassics.datasets.coco_checks import clean_coco

    path = _bad_coco(tmp_path)
    with caplog.at_level("WARNING", logger="segclassics"):
        cleaned, rep = clean_coco(str(path), str(tmp_path))
    assert [a["id"] for a in cleaned["annotations"]] == [1, 2]
    assert [c["name"] for c in cleaned["categories"]] == ["cat", "dog"]
    assert rep.thing_classes == ["cat", "dog"]
    assert (
        rep.skipped_dropped_category,
        rep.skipped_unknown_category,
        rep.skipped_unknown_image,
        rep.skipped_bad_box,
        rep.skipped_empty_mask,
        rep.dropped_polygons,
    ) == (1, 1, 1, 2, 3, 1)
    assert rep.num_annotations_in == 10 and rep.num_annotations_kept == 2 and rep.num_skipped == 8
    assert cleaned["annotations"][1]["segmentation"] == [[1, 1, 6, 1, 6, 6, 1, 6]]
    assert "kept 2/10" in caplog.text and "category_id missing" in caplog.text
    # keeping the background category when asked
    cleaned2, rep2 = clean_coco(str(path), str(tmp_path), drop_category_names=())
    assert rep2.skipped_dropped_category == 0 and 8 in [a["id"] for a in cleaned2["annotations"]]


def test_clean_coco_missing_image_is_a_clear_error(tmp_path):
    from segclassics.datasets.coco_checks import clean_coco

    path = _bad_coco(tmp_path)
    (tmp_path / "img" / "b.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 2 images .* do not exist .*img/b\.png"):
        clean_coco(str(path), str(tmp_path))
    with pytest.raises(FileNotFoundError, match="COCO annotation file not found"):
        clean_coco(str(tmp_path / "nope.json"), str(tmp_path))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"annotations": []}))
    with pytest.raises(ValueError, match="missing keys"):
        clean_coco(str(bad), str(tmp_path))


def test_detectron2_registration_loads_only_clean_annotations(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCLASSICS_CACHE", str(tmp_path / "cache"))
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from segclassics.detectron2.coco_instances import checked_coco_evaluator, register_checked_coco_instances

    path = _bad_coco(tmp_path)
    name = register_checked_coco_instances("_test_bad_coco", str(path), str(tmp_path), thing_classes=["cat", "dog"])
    dicts = DatasetCatalog.get(name)
    anns = [a for d in dicts for a in d["annotations"]]
    assert len(anns) == 2 and sorted(a["category_id"] for a in anns) == [0, 1]  # contiguous ids
    meta = MetadataCatalog.get(name)
    assert meta.thing_classes == ["cat", "dog"] and meta.json_file.startswith(str(tmp_path / "cache"))
    assert json.loads(Path(meta.json_file).read_text())["categories"][0]["name"] == "cat"
    evaluator = checked_coco_evaluator(name)
    assert len(evaluator._coco_api.getAnnIds()) == 2  # scores against the cleaned ground truth
    register_checked_coco_instances("_test_bad_coco2", str(path), str(tmp_path), thing_classes=["dog", "cat"])
    with pytest.raises(ValueError, match="make them agree"):
        DatasetCatalog.get("_test_bad_coco2")


def test_clean_coco_on_shared_data(shared_data):
    from segclassics.datasets.coco_checks import clean_coco

    voc = shared_data("voc_tiny") / "coco"
    cleaned, rep = clean_coco(str(voc / "annotations.json"), str(voc))
    assert rep.dropped_categories == ["_background_"] and len(rep.thing_classes) == 20
    raw = json.loads((voc / "annotations.json").read_text())
    assert rep.num_annotations_in == len(raw["annotations"])
    isbi = shared_data("isbi2012")
    _, rep = clean_coco(str(isbi / "instances" / "val.json"), str(isbi))
    assert rep.thing_classes == ["cell"] and rep.num_images == 6


def test_clean_coco_on_synthetic(synthetic_root):
    from segclassics.datasets.coco_checks import clean_coco

    path = synthetic_root / "annotations" / "instances_train.json"
    cleaned, rep = clean_coco(str(path), str(synthetic_root), log=False)
    assert rep.num_annotations_kept == rep.num_annotations_in > 0


# ----------------------------------------------------------------------------- trainings


def _copypaste_metrics(text: str) -> dict:
    """Parse detectron2's 'copypaste:' lines into {task: {metric: value}}."""
    res, task, names = {}, None, None
    for line in text.splitlines():
        m = re.search(r"copypaste: (.*)$", line)
        if not m:
            continue
        body = m.group(1)
        if body.startswith("Task: "):
            task = body[6:].strip()
        elif names is None:
            names = body.split(",")
        else:
            res[task] = dict(zip(names, map(float, body.split(","))))
            names = None
    return res


@pytest.mark.slow
def test_detectron2_voc_tiny_two_iterations_then_finite_ap(run_tool, shared_data, tmp_path):
    shared_data("voc_tiny")
    proc = run_tool(
        "train.py",
        "configs/detectron2/mask_rcnn_R_50_FPN_voc_tiny.py",
        "--work-dir",
        str(tmp_path),
        "train.max_iter=2",
        "dataloader.train.mapper.augmentations.0.short_edge_length=[128]",
        "dataloader.test.mapper.augmentations.0.short_edge_length=128",
        "model.roi_heads.batch_size_per_image=64",
        timeout=1500,
        env={"SEGCLASSICS_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = _copypaste_metrics(proc.stdout + proc.stderr)
    assert set(metrics) == {"bbox", "segm"}
    for task in ("bbox", "segm"):
        assert all(math.isfinite(metrics[task][k]) for k in ("AP", "AP50", "AP75"))
    assert (tmp_path / "model_final.pth").is_file()
    # tools/test.py on the checkpoint: same metrics path, plus overlay PNGs of the instances
    show = tmp_path / "show"
    proc = run_tool(
        "test.py",
        "configs/detectron2/mask_rcnn_R_50_FPN_voc_tiny.py",
        str(tmp_path / "model_final.pth"),
        "--work-dir",
        str(tmp_path / "test"),
        "--show-dir",
        str(show),
        "dataloader.test.mapper.augmentations.0.short_edge_length=128",
        timeout=1500,
        env={"SEGCLASSICS_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert set(_copypaste_metrics(proc.stdout + proc.stderr)) == {"bbox", "segm"}
    assert len(list(show.glob("*.png"))) == 3  # one overlay per voc_tiny image


# ----------------------------------------------------------------------------- mmdet side

MM_CONFIGS = REPO / "configs" / "mask_rcnn"


def _mm_cfg(name: str):
    pytest.importorskip("mmdet", reason="mmdet is not installed")
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import segclassics.mmdet  # noqa: F401

    init_default_scope("mmdet")
    return Config.fromfile(str(MM_CONFIGS / name))


def test_mmdet_config_uses_aligned_roi_align():
    cfg = _mm_cfg("mask-rcnn_r50_fpn_gn-scratch_isbi2012.py")
    from mmcv.ops import RoIAlign
    from mmdet.registry import MODELS

    for key in ("bbox_roi_extractor", "mask_roi_extractor"):
        ext_cfg = cfg.model.roi_head[key].copy()
        ext_cfg.roi_layer = dict(ext_cfg.roi_layer, output_size=3, sampling_ratio=2)
        ext_cfg.featmap_strides = [1]
        ext = MODELS.build(ext_cfg)
        layer = ext.roi_layers[0]
        assert isinstance(layer, RoIAlign) and layer.aligned
        feat_np = np.random.default_rng(3).normal(size=(9, 11)).astype(np.float32)
        got = layer(torch.tensor(feat_np)[None, None], torch.tensor([[0, *BOX]], dtype=torch.float32))[0, 0]
        np.testing.assert_allclose(got.numpy(), _hand_roi_align(feat_np.astype(np.float64), BOX, 3, 2, True), atol=1e-5)


def test_mmdet_mask_head_outputs_K_m_m_per_roi():
    cfg = _mm_cfg("mask-rcnn_r50_fpn_gn-scratch_voc-tiny.py")
    from mmdet.registry import MODELS

    head_cfg = cfg.model.roi_head.mask_head.copy()
    head_cfg.update(in_channels=8, conv_out_channels=8)  # tiny widths, same structure
    head = MODELS.build(head_cfg)
    m_in = cfg.model.roi_head.mask_roi_extractor.roi_layer.output_size
    out = head(torch.randn(5, 8, m_in, m_in))
    assert tuple(out.shape) == (5, 20, 28, 28)  # K = 20 VOC classes, m = 28


def test_mmdet_checked_dataset_skips_bad_annotations(tmp_path, monkeypatch):
    _mm_cfg("mask-rcnn_r50_fpn_gn-scratch_voc-tiny.py")
    monkeypatch.setenv("SEGCLASSICS_CACHE", str(tmp_path / "cache"))
    from mmdet.registry import DATASETS, METRICS

    path = _bad_coco(tmp_path)
    ds = DATASETS.build(
        dict(
            type="CheckedCocoDataset",
            data_root=str(tmp_path),
            ann_file="ann.json",
            data_prefix=dict(img=""),
            metainfo=dict(classes=("cat", "dog")),
            pipeline=[],
            filter_cfg=None,
        )
    )
    labels = sorted(inst["bbox_label"] for i in range(len(ds)) for inst in ds.get_data_info(i)["instances"])
    assert labels == [0, 1]
    assert ds.ann_file == str(path)  # the source file is still what the dataset reports
    metric = METRICS.build(
        dict(type="CheckedCocoMetric", ann_file=str(path), image_root=str(tmp_path), metric=["bbox", "segm"])
    )
    assert len(metric._coco_api.get_ann_ids()) == 2
    with pytest.raises(ValueError, match=r"classes \['bird'\] are not categories"):
        DATASETS.build(
            dict(
                type="CheckedCocoDataset",
                data_root=str(tmp_path),
                ann_file="ann.json",
                data_prefix=dict(img=""),
                metainfo=dict(classes=("cat", "bird")),
                pipeline=[],
            )
        )
    (tmp_path / "img" / "a.png").unlink()
    with pytest.raises(FileNotFoundError, match="do not exist"):
        DATASETS.build(
            dict(
                type="CheckedCocoDataset",
                data_root=str(tmp_path),
                ann_file="ann.json",
                data_prefix=dict(img=""),
                metainfo=dict(classes=("cat", "dog")),
                pipeline=[],
            )
        )


def _mmengine_metrics(text: str) -> dict:
    """Parse mmengine's final 'coco/bbox_mAP: 0.0000 ...' line."""
    lines = [ln for ln in text.splitlines() if "coco/bbox_mAP:" in ln]
    assert lines, "no COCO metrics in the log"
    return {k: float(v) for k, v in re.findall(r"coco/(\w+): (-?[\d.]+|nan)", lines[-1])}


@pytest.mark.slow
def test_mmdet_voc_tiny_two_iterations_then_finite_ap(run_tool, shared_data, tmp_path):
    pytest.importorskip("mmdet", reason="mmdet is not installed")
    shared_data("voc_tiny")
    proc = run_tool(
        "train.py",
        "configs/mask_rcnn/mask-rcnn_r50_fpn_gn-scratch_voc-tiny.py",
        "--work-dir",
        str(tmp_path),
        "--cfg-options",
        "train_cfg.max_iters=2",
        "train_cfg.val_interval=2",
        "train_dataloader.dataset.pipeline.2.scale=(200,128)",
        "val_dataloader.dataset.pipeline.1.scale=(200,128)",
        "model.train_cfg.rcnn.sampler.num=64",
        timeout=1500,
        env={"SEGCLASSICS_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = _mmengine_metrics(proc.stdout + proc.stderr)
    for key in ("bbox_mAP", "bbox_mAP_50", "segm_mAP", "segm_mAP_50"):
        assert math.isfinite(metrics[key]), metrics
    assert (tmp_path / "iter_2.pth").is_file()
    show = tmp_path / "show"
    proc = run_tool(
        "test.py",
        "configs/mask_rcnn/mask-rcnn_r50_fpn_gn-scratch_voc-tiny.py",
        str(tmp_path / "iter_2.pth"),
        "--work-dir",
        str(tmp_path / "test"),
        "--show-dir",
        str(show),
        "--cfg-options",
        "test_dataloader.dataset.pipeline.1.scale=(200,128)",
        timeout=1500,
        env={"SEGCLASSICS_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "segm_mAP" in _mmengine_metrics(proc.stdout + proc.stderr)
    assert len(list(show.rglob("*.jpg")) + list(show.rglob("*.png"))) == 3  # DetLocalVisualizer overlays


# ----------------------------------------------------------------------------- evaluation reference


def _pycocotools_ap(gt_json, results, iou_type: str) -> float:
    """COCO AP (IoU .50:.95, all areas, 100 detections) of ``results`` (a list of COCO result dicts
    or a json file), computed by pycocotools itself: the reference the frameworks' evaluators wrap."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if isinstance(results, (str, Path)):
        results = json.loads(Path(results).read_text())
    if not results:
        return float("nan")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_json))
        ev = COCOeval(gt, gt.loadRes(results), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def _same_ap(ours: float, reference: float, scale: float, digits: int) -> bool:
    """``ours`` (in ``scale`` units, rounded to ``digits``) is pycocotools' AP; both nan when nothing was detected."""
    if math.isnan(reference):
        return math.isnan(ours)
    return round(reference * scale, digits) == round(ours, digits)


def _d2_train_step_then_evaluate(cfg, tmp_path):
    """One SGD step of ``cfg.model`` on a training batch, then COCO evaluation on ``cfg.dataloader.test``
    with the evaluator's predictions written to ``tmp_path``; returns (losses, results, predictions json)."""
    from detectron2.config import instantiate
    from detectron2.evaluation import inference_on_dataset
    from detectron2.utils.events import EventStorage

    torch.manual_seed(0)
    model = instantiate(cfg.model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    batch = next(iter(instantiate(cfg.dataloader.train)))
    model.train()
    with EventStorage(0):
        losses = model(batch)
    total = sum(losses.values())
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    model.eval()
    cfg.dataloader.evaluator.output_dir = str(tmp_path / "eval")
    results = inference_on_dataset(model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator))
    return losses, results, tmp_path / "eval" / "coco_instances_results.json"


def _check_d2_results(losses, results, predictions, gt_json):
    """Finite losses of every Mask R-CNN branch; the evaluator's AP is pycocotools' on its predictions."""
    assert {"loss_cls", "loss_box_reg", "loss_mask", "loss_rpn_cls", "loss_rpn_loc"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values()), losses
    assert set(results) == {"bbox", "segm"}
    for task in ("bbox", "segm"):
        ref = _pycocotools_ap(gt_json, predictions, task)
        assert _same_ap(results[task]["AP"], ref, 100, 6), (task, results[task]["AP"], ref)


def _check_mmdet_metrics(metrics, prefix, gt_json):
    """mmdet's CocoMetric AP (rounded to 3 decimals) is pycocotools' on the results it wrote."""
    for task in ("bbox", "segm"):
        ref = _pycocotools_ap(gt_json, f"{prefix}.{task}.json", task)
        assert _same_ap(metrics[f"coco/{task}_mAP"], ref, 1, 3), (task, metrics, ref)


# ----------------------------------------------------------------------------- our backbones in Mask R-CNN


def _isbi_val_subset(shared_data, tmp_path, n_images=2) -> Path:
    """The first ``n_images`` ISBI val slices as a COCO json (keeps evaluation quick)."""
    root = shared_data("isbi2012")
    coco = json.loads((root / "instances" / "val.json").read_text())
    keep = {im["id"] for im in coco["images"][:n_images]}
    coco["images"] = [im for im in coco["images"] if im["id"] in keep]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in keep]
    path = tmp_path / "val_subset.json"
    path.write_text(json.dumps(coco))
    return path


D2_MIX = {
    "VGG16_FPN": ["model.backbone.bottom_up.widths=[8,16,32,64,64]"],
    "ViT_SFP": [
        "model.backbone.net.embed_dim=32",
        "model.backbone.net.depth=2",
        "model.backbone.net.num_heads=2",
        "model.backbone.net.img_size=128",
        "model.backbone.square_pad=128",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(D2_MIX))
def test_detectron2_mask_rcnn_with_our_backbone_trains_and_evaluates(name, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCLASSICS_CACHE", str(tmp_path / "cache"))
    from detectron2.config import LazyConfig

    from segclassics.detectron2.coco_instances import register_checked_coco_instances

    val = _isbi_val_subset(shared_data, tmp_path)
    register_checked_coco_instances(
        "_test_isbi_val_subset", str(val), str(shared_data("isbi2012")), thing_classes=["cell"]
    )
    cfg = LazyConfig.load(str(D2_CONFIGS / f"mask_rcnn_{name}_isbi2012.py"))
    cfg = LazyConfig.apply_overrides(
        cfg,
        D2_MIX[name]
        + [
            "dataloader.train.mapper.augmentations.0.short_edge_length=[128]",
            "dataloader.train.mapper.augmentations.0.max_size=128",
            "dataloader.test.mapper.augmentations.0.short_edge_length=128",
            "dataloader.test.mapper.augmentations.0.max_size=128",
            "dataloader.test.dataset.names=_test_isbi_val_subset",
            "model.roi_heads.batch_size_per_image=32",
        ],
    )
    losses, results, predictions = _d2_train_step_then_evaluate(cfg, tmp_path)
    _check_d2_results(losses, results, predictions, val)


MM_MIX = {
    "mask-rcnn_vgg16_fpn_isbi2012.py": [
        "model.backbone.widths=[8,16,32,64,64]",
        "model.neck.in_channels=[16,32,64,64]",
    ],
    "mask-rcnn_vit-b_sfp_isbi2012.py": [
        "model.backbone.embed_dim=32",
        "model.backbone.depth=2",
        "model.backbone.num_heads=2",
        "model.backbone.img_size=128",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MM_MIX))
def test_mmdet_mask_rcnn_with_our_backbone_trains_and_evaluates(name, shared_data, tmp_path, monkeypatch):
    cfg = _mm_cfg(name)
    monkeypatch.setenv("SEGCLASSICS_CACHE", str(tmp_path / "cache"))
    from mmengine.runner import Runner

    val = _isbi_val_subset(shared_data, tmp_path)
    opts = dict(kv.split("=", 1) for kv in MM_MIX[name])
    cfg.merge_from_dict({k: eval(v) for k, v in opts.items()})
    if "vit" in name:
        cfg.model.neck[0].in_channels = [32]
    cfg.merge_from_dict(
        {
            "train_dataloader.dataset.pipeline.2.scale": (128, 128),
            "val_dataloader.dataset.pipeline.1.scale": (128, 128),
            "train_cfg.max_iters": 1,
            "train_cfg.val_interval": 100,
            "model.train_cfg.rcnn.sampler.num": 32,
            "val_dataloader.dataset.ann_file": str(val),
            "val_evaluator.ann_file": str(val),
            "default_hooks.checkpoint.interval": 100,
            "work_dir": str(tmp_path / "work"),
            "val_evaluator.outfile_prefix": str(tmp_path / "results"),
        }
    )
    cfg.test_dataloader = cfg.val_dataloader
    cfg.test_evaluator = cfg.val_evaluator
    runner = Runner.from_cfg(cfg)
    runner.train()
    _check_mmdet_metrics(runner.val(), tmp_path / "results", val)


# ----------------------------------------------------------------------------- synthetic instances (no ../shared)


@pytest.mark.slow
def test_detectron2_mask_rcnn_on_synthetic_instances(synthetic_root, tmp_path, monkeypatch):
    """The ISBI reproduction network (R18-FPN, GN, from scratch) on the generated COCO instances
    (5 shape classes), so it runs without ../shared: a training step, then an evaluation that agrees
    with pycocotools."""
    monkeypatch.setenv("SEGCLASSICS_CACHE", str(tmp_path / "cache"))
    from detectron2.config import LazyConfig

    from segclassics.datasets.synthetic import CLASSES
    from segclassics.detectron2.coco_instances import register_checked_coco_instances

    for split in ("train", "val"):
        register_checked_coco_instances(
            f"_test_synthetic_{split}",
            str(synthetic_root / "annotations" / f"instances_{split}.json"),
            str(synthetic_root),
            thing_classes=list(CLASSES[1:]),
        )
    cfg = LazyConfig.load(str(D2_CONFIGS / "mask_rcnn_R_18_FPN_isbi2012.py"))
    cfg = LazyConfig.apply_overrides(
        cfg,
        [
            "model.roi_heads.num_classes=5",
            "model.roi_heads.batch_size_per_image=32",
            "dataloader.train.dataset.names=_test_synthetic_train",
            "dataloader.test.dataset.names=_test_synthetic_val",
            "dataloader.train.total_batch_size=2",
            "dataloader.train.mapper.augmentations.0.short_edge_length=[64]",
            "dataloader.train.mapper.augmentations.0.max_size=64",
            "dataloader.test.mapper.augmentations.0.short_edge_length=64",
            "dataloader.test.mapper.augmentations.0.max_size=64",
        ],
    )
    losses, results, predictions = _d2_train_step_then_evaluate(cfg, tmp_path)
    _check_d2_results(losses, results, predictions, synthetic_root / "annotations" / "instances_val.json")


@pytest.mark.slow
def test_mmdet_mask_rcnn_on_synthetic_instances(synthetic_root, tmp_path, monkeypatch):
    """mmdet twin of the test above (the same R18-FPN GN network, mmdet's Runner)."""
    cfg = _mm_cfg("mask-rcnn_r18_fpn_gn-scratch_isbi2012.py")
    monkeypatch.setenv("SEGCLASSICS_CACHE", str(tmp_path / "cache"))
    from mmengine.runner import Runner

    from segclassics.datasets.synthetic import CLASSES

    root = str(synthetic_root) + "/"
    metainfo = dict(classes=tuple(CLASSES[1:]))
    cfg.merge_from_dict(
        {
            "model.roi_head.bbox_head.num_classes": 5,
            "model.roi_head.mask_head.num_classes": 5,
            "model.train_cfg.rcnn.sampler.num": 32,
            "train_dataloader.batch_size": 2,
            "train_dataloader.dataset.data_root": root,
            "train_dataloader.dataset.metainfo": metainfo,
            "train_dataloader.dataset.ann_file": "annotations/instances_train.json",
            "train_dataloader.dataset.pipeline.2.scale": (64, 64),
            "val_dataloader.dataset.data_root": root,
            "val_dataloader.dataset.metainfo": metainfo,
            "val_dataloader.dataset.ann_file": "annotations/instances_val.json",
            "val_dataloader.dataset.pipeline.1.scale": (64, 64),
            "val_evaluator.ann_file": root + "annotations/instances_val.json",
            "val_evaluator.image_root": root,
            "val_evaluator.outfile_prefix": str(tmp_path / "results"),
            "train_cfg.max_iters": 1,
            "train_cfg.val_interval": 100,
            "default_hooks.checkpoint.interval": 100,
            "work_dir": str(tmp_path / "work"),
        }
    )
    cfg.test_dataloader = cfg.val_dataloader
    cfg.test_evaluator = cfg.val_evaluator
    runner = Runner.from_cfg(cfg)
    runner.train()
    _check_mmdet_metrics(runner.val(), tmp_path / "results", synthetic_root / "annotations" / "instances_val.json")


# ----------------------------------------------------------------------------- the ISBI reproduction configs


def test_isbi_r18_reproduction_is_the_same_network_in_both_frameworks():
    """mmdet's and detectron2's R18-FPN ISBI configs build the same network, part by part.

    Independent fact for the backbone: torchvision's ResNet-18 has 11,689,512 parameters, of
    which its 1000-way fc has 512 * 1000 + 1000; GroupNorm has the same affine parameters as BN.
    """
    from detectron2.config import LazyConfig, instantiate

    mm_cfg = _mm_cfg("mask-rcnn_r18_fpn_gn-scratch_isbi2012.py")
    from mmdet.registry import MODELS

    mm = MODELS.build(mm_cfg.model)
    d2 = instantiate(LazyConfig.load(str(D2_CONFIGS / "mask_rcnn_R_18_FPN_isbi2012.py")).model)

    def n(module):
        return sum(p.numel() for p in module.parameters())

    assert n(mm.backbone) == n(d2.backbone.bottom_up) == 11_689_512 - (512 * 1000 + 1000)
    assert n(mm.neck) == n(d2.backbone) - n(d2.backbone.bottom_up)
    assert n(mm.rpn_head) == n(d2.proposal_generator)
    assert n(mm.roi_head.bbox_head) == n(d2.roi_heads.box_head) + n(d2.roi_heads.box_predictor)
    assert n(mm.roi_head.mask_head) == n(d2.roi_heads.mask_head)
    assert n(mm) == n(d2)
    # anchors one octave below COCO's: 16 px on P2 (stride 4) in both
    d2_anchor = next(iter(d2.proposal_generator.anchor_generator.cell_anchors))
    mm_anchor = mm.rpn_head.prior_generator.base_anchors[0]
    for anchors in (d2_anchor, mm_anchor):
        sizes = ((anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])).sqrt()
        torch.testing.assert_close(sizes, torch.full((3,), 16.0))


def test_isbi_r18_training_crops_drop_cut_off_cells(shared_data, tmp_path, monkeypatch):
    """Random 256 crops of full-resolution slices: every kept cell has a mask pixel and a box that
    is tight around it (recomputed from the cropped mask), in both frameworks' pipelines."""
    monkeypatch.setenv("SEGCLASSICS_CACHE", str(tmp_path / "cache"))
    shared_data("isbi2012")
    from detectron2.config import LazyConfig, instantiate
    from mmdet.registry import DATASETS

    cfg = _mm_cfg("mask-rcnn_r18_fpn_gn-scratch_isbi2012.py")
    cfg.train_dataloader.dataset.data_root = str(shared_data("isbi2012")) + "/"
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(0)
    for i in range(4):
        sample = dataset[i]
        inputs, data = sample["inputs"], sample["data_samples"]
        assert tuple(inputs.shape[-2:]) == (256, 256)
        masks = data.gt_instances.masks.to_ndarray()
        assert len(masks) > 0 and masks.reshape(len(masks), -1).sum(1).min() >= 1
        torch.testing.assert_close(data.gt_instances.bboxes.tensor, data.gt_instances.masks.get_bboxes("hbox").tensor)

    d2_cfg = LazyConfig.load(str(D2_CONFIGS / "mask_rcnn_R_18_FPN_isbi2012.py"))
    mapper = instantiate(d2_cfg.dataloader.train.mapper)
    dicts = instantiate(d2_cfg.dataloader.train.dataset)
    for record in dicts[:4]:
        inst = mapper(record)["instances"]
        assert tuple(inst.image_size) == (256, 256) and len(inst) > 0
        assert inst.gt_masks.tensor.flatten(1).sum(1).min() >= 1
        torch.testing.assert_close(inst.gt_boxes.tensor, inst.gt_masks.get_bounding_boxes().tensor)
