"""UNet in mmseg: registered parts, centre-cropped labels + weight map in the loss, overlap-tile
predictions, transforms, ISBI 2012 / DRIVE datasets, BinarySegMetric, configs (Ronneberger et al. 2015)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("mmseg")

from mmengine.config import Config  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.registry import DATASETS, METRICS, MODELS, TRANSFORMS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import segclassics.mmseg  # noqa: E402,F401
from helpers import data_root_overrides  # noqa: E402
from segclassics.datasets.unet_augment import unet_weight_map  # noqa: E402
from segclassics.models.overlap_tile import overlap_tile_predict  # noqa: E402
from segclassics.models.unet import unet_output_size, unet_valid_sizes  # noqa: E402

register_all_modules(init_default_scope=True)

OURS = {
    MODELS: ["PaperUNetEncoder", "PaperUNetHead", "OverlapTileEncoderDecoder", "SegRot90TTAModel"],
    TRANSFORMS: ["MirrorPadBorder", "UNetWeightMap", "ElasticDeformation", "Rot90", "PackSegInputsWithWeight"],
    DATASETS: ["ISBI2012Dataset", "DRIVEFOVDataset"],
    METRICS: ["BinarySegMetric"],
}


def test_registered_without_clashing_with_mmseg():
    for registry, names in OURS.items():
        for name in names:
            cls = registry.get(name)
            assert cls is not None and cls.__module__.startswith("segclassics."), name
    assert MODELS.get("UNet").__module__.startswith("mmseg.")  # mmseg's own UNet untouched
    assert DATASETS.get("DRIVEDataset").__module__.startswith("mmseg.")


def _tiny_valid(depth=3, base=4, num_classes=2, tile=None, **head):
    cfg = dict(
        type="OverlapTileEncoderDecoder",
        data_preprocessor=dict(type="SegDataPreProcessor", mean=[0.0], std=[1.0], pad_val=0, seg_pad_val=255),
        backbone=dict(type="PaperUNetEncoder", in_channels=1, base_channels=base, depth=depth, padding="valid"),
        decode_head=dict(
            type="PaperUNetHead",
            in_channels=[base * 2**i for i in range(depth)],
            num_classes=num_classes,
            base_channels=base,
            depth=depth,
            padding="valid",
            **head,
        ),
        train_cfg=dict(),
        test_cfg=dict(mode="overlap_tile", tile_size=tile or unet_valid_sizes(depth, "valid", max_size=200)[2]),
    )
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _sample(label, weight=None):
    s = SegDataSample(metainfo=dict(img_shape=label.shape, ori_shape=label.shape, pad_shape=label.shape))
    s.gt_sem_seg = PixelData(data=torch.as_tensor(label)[None].long())
    if weight is not None:
        s.gt_weight_map = PixelData(data=torch.as_tensor(weight)[None].float())
    return s


def test_loss_centre_crops_labels_and_uses_weight_map():
    m = _tiny_valid()
    tile = unet_valid_sizes(3, "valid", max_size=200)[0]
    out = unet_output_size(tile, 3)[0]
    b = (tile - out) // 2
    rng = np.random.default_rng(0)
    lab = (rng.random((tile, tile)) > 0.5).astype(np.int64)
    x = torch.rand(1, 1, tile, tile)
    logits = m.decode_head.forward(m.extract_feat(x))
    assert logits.shape[-2:] == (out, out)
    centre = torch.from_numpy(lab[b : b + out, b : b + out])[None]
    ref = torch.nn.functional.cross_entropy(logits, centre)
    loss = m.decode_head.loss_by_feat(logits, [_sample(lab)])
    assert torch.allclose(loss["loss_ce"], ref, atol=1e-6)
    w = unet_weight_map(lab)
    wc = torch.from_numpy(w[b : b + out, b : b + out])[None]
    ref_w = (torch.nn.functional.cross_entropy(logits, centre, reduction="none") * wc).mean()
    loss_w = m.decode_head.loss_by_feat(logits, [_sample(lab, w)])
    assert torch.allclose(loss_w["loss_ce"], ref_w, atol=1e-6)
    with pytest.raises(ValueError, match="outside the classes"):
        m.decode_head.loss_by_feat(logits, [_sample(np.full((tile, tile), 5))])
    with pytest.raises(ValueError, match="weight map shape"):
        m.decode_head.loss_by_feat(logits, [_sample(lab, w[:-1])])


def test_overlap_tile_predict_full_size():
    m = _tiny_valid().eval()
    tile = m.test_cfg["tile_size"]
    x = torch.rand(1, 1, 45, 70)
    s = SegDataSample(metainfo=dict(img_shape=(45, 70), ori_shape=(45, 70), pad_shape=(45, 70)))
    with torch.no_grad():
        res = m.predict(x, [s])[0]
        ref = overlap_tile_predict(
            lambda t: m.decode_head.forward(m.extract_feat(t)), x, tile, unet_output_size(tile, 3)
        )
    assert res.pred_sem_seg.data.shape == (1, 45, 70)
    assert torch.allclose(res.seg_logits.data, ref[0], atol=1e-5)
    from mmengine.config import ConfigDict

    m.test_cfg = ConfigDict(mode="whole")  # a valid net without overlap-tile: clear error, not a silent resize
    with pytest.raises(ValueError, match="OverlapTileEncoderDecoder"):
        with torch.no_grad():
            m.predict(
                torch.rand(1, 1, tile, tile),
                [SegDataSample(metainfo=dict(img_shape=(tile, tile), ori_shape=(tile, tile), pad_shape=(tile, tile)))],
            )
    m.test_cfg = ConfigDict(mode="overlap_tile", tile_size=tile + 1)
    with pytest.raises(ValueError, match="Nearest valid sizes"):
        m.predict(x, [s])


def test_predict_by_feat_with_pad_shape_none():
    """``pad_shape=None`` reads ``img_shape``: the valid head's size check names the fix (it used to crash)."""
    m = _tiny_valid().eval()
    tile = m.test_cfg["tile_size"]
    out = unet_output_size(tile, 3)[0]
    logits = torch.zeros(1, 2, out, out)
    with pytest.raises(ValueError, match=rf"maps a \({tile}, {tile}\) input to \({out}, {out}\) outputs"):
        m.decode_head.predict_by_feat(logits, [dict(img_shape=(tile, tile), pad_shape=None)])
    same = m.decode_head.predict_by_feat(logits, [dict(img_shape=(out, out), pad_shape=None)])
    assert torch.equal(same, logits)


def test_binary_sigmoid_head_and_bad_config():
    m = _tiny_valid(
        out_channels=1, threshold=0.5, loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0)
    ).eval()
    x = torch.rand(1, 1, 30, 30)
    s = SegDataSample(metainfo=dict(img_shape=(30, 30), ori_shape=(30, 30), pad_shape=(30, 30)))
    with torch.no_grad():
        pred = m.predict(x, [s])[0].pred_sem_seg.data
    assert pred.shape == (1, 30, 30) and set(pred.unique().tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="do not match base_channels"):
        MODELS.build(dict(type="PaperUNetHead", in_channels=[8, 16], num_classes=2, base_channels=4, depth=2))


def test_transforms_weight_map_moves_with_crop_and_is_packed():
    rng = np.random.default_rng(0)
    lab = np.zeros((40, 50), np.uint8)
    lab[5:35, 5:24] = 1
    lab[5:35, 25:45] = 1
    res = dict(img=rng.integers(0, 255, (40, 50), dtype=np.uint8), gt_seg_map=lab, seg_fields=["gt_seg_map"])
    res = TRANSFORMS.build(dict(type="UNetWeightMap", w0=10, sigma=5))(res)
    assert "gt_weight_map" in res["seg_fields"] and res["gt_weight_map"].argmax() % 50 == 24
    res = TRANSFORMS.build(dict(type="MirrorPadBorder", border=7))(res)
    assert res["img"].shape == (54, 64)
    assert (res["gt_seg_map"][:7] == 255).all() and (res["gt_weight_map"][:7] == 0).all()
    assert np.array_equal(res["img"][6], res["img"][8])  # mirrored about row 7
    res = TRANSFORMS.build(dict(type="ElasticDeformation", sigma=3, seed=0))(res)
    assert set(np.unique(res["gt_seg_map"])) <= {0, 1, 255}
    res = TRANSFORMS.build(dict(type="RandomCrop", crop_size=(30, 30)))(res)
    assert res["gt_weight_map"].shape == (30, 30)
    packed = TRANSFORMS.build(dict(type="PackSegInputsWithWeight"))(res)
    ds = packed["data_samples"]
    assert ds.gt_weight_map.data.shape == (1, 30, 30) and ds.gt_sem_seg.data.shape == (1, 30, 30)


def test_isbi2012_dataset_slices_and_labels(shared_data):
    root = shared_data("isbi2012")
    pipeline = [dict(type="LoadImageFromFile", color_type="grayscale"), dict(type="LoadAnnotations")]
    train = DATASETS.build(dict(type="ISBI2012Dataset", data_root=str(root), slices=range(0, 24), pipeline=pipeline))
    val = DATASETS.build(dict(type="ISBI2012Dataset", data_root=str(root), slices=range(24, 30), pipeline=pipeline))
    assert len(train) == 24 and len(val) == 6
    assert val[0]["img_path"].endswith("/24.png")
    item = val[0]
    from PIL import Image

    raw = np.asarray(Image.open(root / "labels/train/24.png"))
    assert np.array_equal(item["gt_seg_map"], (raw == 255).astype(np.uint8))  # 255 cell -> class 1
    with pytest.raises(ValueError, match="slices \\[99\\] not found"):
        DATASETS.build(dict(type="ISBI2012Dataset", data_root=str(root), slices=[99], pipeline=pipeline))
    with pytest.raises(FileNotFoundError, match="ISBI 2012 data not found"):
        DATASETS.build(dict(type="ISBI2012Dataset", data_root="/nonexistent", pipeline=pipeline))


def test_binary_seg_metric_hand_made_and_fov(tmp_path):
    from PIL import Image

    fov = np.array([[1, 1, 0, 1], [1, 1, 1, 1]], np.uint8)
    Image.fromarray(fov).save(tmp_path / "fov.png")
    target = np.array([[1, 1, 0, 0], [0, 0, 0, 0]])
    pred = np.array([[1, 0, 1, 0], [0, 0, 0, 0]])
    metric = METRICS.build(dict(type="BinarySegMetric", rand=True))
    metric.dataset_meta = dict(classes=("bg", "fg"))
    sample = dict(
        pred_sem_seg=dict(data=torch.from_numpy(pred)[None]),
        gt_sem_seg=dict(data=torch.from_numpy(target)[None]),
        fov_path=str(tmp_path / "fov.png"),
    )
    metric.process({}, [sample])
    res = metric.compute_metrics(metric.results)
    assert res["Dice"] == pytest.approx(100 * 2 / 3, abs=0.01)  # FOV hides the false positive
    assert res["Dice_all"] == pytest.approx(50.0, abs=0.01)
    assert res["pixel_error"] == pytest.approx(1 / 7, abs=1e-6)
    # Rand error inside the FOV: the one true cell (pixels (0,0), (0,1)) is split into a predicted cell
    # and predicted membrane: p_ij = (1/2, 1/2), sum s_i^2 = 1, sum t_j^2 = 1/2, so the split score is
    # 1/2, the merge score 1, V_rand = 2/3 and the error 1/3 (rounded to 6 decimals by the metric)
    assert res["rand_error"] == round(1 / 3, 6)


def test_binary_seg_metric_reports_the_warping_error_when_asked():
    # ISBI-like maps, 1 cell interior / 0 membrane: one 8x10 cell in a membrane frame (10x12); the
    # first prediction cuts it with a membrane line of 10 pixels, of which one is left after warping
    # (tests/test_warping_error.py); the second prediction is right. The frame's corner is ignored.
    target = np.zeros((10, 12), np.int64)
    target[1:9, 1:11] = 1
    target[0, 0] = 255
    split = np.where(target == 255, 0, target)
    split[4, 1:11] = 0
    right = np.where(target == 255, 0, target)
    samples = [
        dict(pred_sem_seg=dict(data=torch.from_numpy(pred)[None]), gt_sem_seg=dict(data=torch.from_numpy(target)[None]))
        for pred in (split, right)
    ]
    metric = METRICS.build(dict(type="BinarySegMetric", positive=1, fov_key=None, rand=True, warping=True))
    metric.dataset_meta = dict(classes=("membrane", "cell"))
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    assert res["warping_error"] == round((1 / 119 + 0) / 2, 6)  # mean over images, 119 counted pixels
    assert res["pixel_error"] == round(10 / 238, 6)
    # the challenge's pixel error, 1 - F-score of the cells: TP 150, FP 0, FN 10 -> F = 300 / 310
    assert res["pixel_error_fscore"] == round(1 / 31, 6)
    plain = METRICS.build(dict(type="BinarySegMetric", positive=1, fov_key=None))
    plain.dataset_meta = metric.dataset_meta
    plain.process({}, samples)
    assert "warping_error" not in plain.evaluate(len(samples))


def test_configs_build(repo_root):
    for name in (
        "unet_synthetic",
        "unet_drive",
        "unet_valid_isbi2012",
        "unet_valid_isbi2012_cpu",
        "unet_same_drive_64x64",
    ):
        cfg = Config.fromfile(str(repo_root / "configs/unet" / f"{name}.py"))
        model = MODELS.build(cfg.model)
        assert model.backbone.module.padding == cfg.model.backbone.padding
    cfg = Config.fromfile(str(repo_root / "configs/unet/unet_valid_isbi2012.py"))
    assert unet_output_size(cfg.model.test_cfg.tile_size, 5) == (388, 388)  # paper tile geometry
    assert cfg.optimizer.momentum == 0.99 and cfg.train_dataloader.batch_size == 1


@pytest.mark.slow
def test_synthetic_config_short_training_lowers_loss(run_tool, synthetic_root, tmp_path):
    proc = run_tool(
        "train.py",
        "configs/unet/unet_synthetic.py",
        "--work-dir",
        str(tmp_path),
        "--cfg-options",
        *data_root_overrides(synthetic_root),
        "train_cfg.max_iters=30",
        "train_cfg.val_interval=30",
        "default_hooks.logger.interval=5",
        "default_hooks.checkpoint.interval=30",
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False",
        "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
        "param_scheduler.0.end=30",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    import re

    losses = [float(v) for v in re.findall(r" loss: ([0-9.]+)", proc.stdout + proc.stderr)]
    assert len(losses) >= 4 and losses[-1] < losses[0], losses
    assert "mIoU" in proc.stdout + proc.stderr
