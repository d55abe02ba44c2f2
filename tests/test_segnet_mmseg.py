"""SegNet in mmseg: the backbone's pool records reach the head in train/eval, batch > 1, AMP, DDP."""

import os
import re

import numpy as np
import pytest
import torch

pytest.importorskip("mmseg")

from mmengine.config import Config  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.registry import DATASETS, METRICS, MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

import segclassics.mmseg  # noqa: E402,F401  (registers our classes)
from helpers import data_root_overrides, free_port  # noqa: E402
from segclassics.models.segnet import PoolRecord, SegNetBasic  # noqa: E402

register_all_modules()  # mmseg's default scope, so SegDataPreProcessor etc. resolve

NUM_CLASSES = 6


def _model_cfg(repo_root, width=8):
    cfg = Config.fromfile(str(repo_root / "configs" / "segnet" / "segnet_basic_synthetic.py"))
    m = cfg.model
    m.backbone.channels = m.decode_head.in_channels = m.decode_head.channels = width
    m.data_preprocessor.size = (45, 61)  # training batches are padded to this (odd) size
    return m


def _batch(sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for h, w in sizes:
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8))
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, NUM_CLASSES, (1, h, w), generator=g))
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture(scope="module")
def model(repo_root):
    torch.manual_seed(0)
    m = MODELS.build(_model_cfg(repo_root))
    m.init_weights()
    return m


def test_backbone_returns_features_then_pool_records(model):
    outs = model.extract_feat(torch.randn(2, 3, 45, 61))
    assert len(outs) == 5 and isinstance(outs[0], torch.Tensor)
    assert all(isinstance(r, PoolRecord) for r in outs[1:])
    assert [r.size for r in outs[1:]] == [(45, 61), (23, 31), (12, 16), (6, 8)]


def test_loss_and_predict_keep_odd_sizes_with_batch(model):
    model.train()
    data = model.data_preprocessor(_batch([(45, 61), (45, 61)]), True)
    losses = model.loss(data["inputs"], data["data_samples"])
    assert torch.isfinite(losses["decode.loss_ce"])
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_batch([(45, 61), (45, 61)], seed=1), False)
        batched = model.predict(data["inputs"], data["data_samples"])
        single = [model.predict(data["inputs"][i : i + 1], [data["data_samples"][i]])[0] for i in range(2)]
    for b, s in zip(batched, single):
        assert b.pred_sem_seg.data.shape == (1, 45, 61)
        assert torch.allclose(b.seg_logits.data, s.seg_logits.data, atol=1e-5)


def test_same_numbers_as_the_plain_torch_model(model):
    ref = SegNetBasic(NUM_CLASSES, channels=8)
    sd = {
        k.replace("backbone.encoder.", "encoder.").replace("decode_head.module.", "decoder."): v
        for k, v in model.state_dict().items()
    }
    ref.load_state_dict(sd)
    model.eval()
    ref.eval()
    x = torch.randn(2, 3, 37, 53)
    with torch.no_grad():
        assert torch.allclose(model._forward(x), ref(x), atol=1e-5)


def test_autocast_bf16_on_cpu(model):
    model.train()
    data = model.data_preprocessor(_batch([(45, 61), (45, 61)]), True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outs = model.extract_feat(data["inputs"])
        losses = model.loss(data["inputs"], data["data_samples"])
    assert outs[0].dtype == torch.bfloat16 and all(r.indices.dtype == torch.int64 for r in outs[1:])
    assert [r.size for r in outs[1:]] == [(45, 61), (23, 31), (12, 16), (6, 8)]
    assert torch.isfinite(losses["decode.loss_ce"])
    losses["decode.loss_ce"].backward()


def test_no_unused_parameters(model):
    """DDP without find_unused_parameters needs a gradient on every parameter."""
    model.train()
    model.zero_grad()
    data = model.data_preprocessor(_batch([(32, 40)]), True)
    model.loss(data["inputs"], data["data_samples"])["decode.loss_ce"].backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_head_rejects_other_inputs(model):
    with pytest.raises(ValueError, match="SegNetBackbone's output"):
        model.decode_head([torch.randn(1, 8, 4, 4)])


def test_vgg16_config_parameter_count(repo_root):
    from segclassics.models.segnet import SegNet

    cfg = Config.fromfile(str(repo_root / "configs" / "segnet" / "segnet_vgg16_camvid.py"))
    m = MODELS.build(cfg.model)
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in SegNet(11).parameters())


def _ddp_worker(rank, world, port, repo_root, result_dir):
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    from mmengine.optim import OptimWrapper

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    import segclassics.mmseg  # noqa: F401,F811  (registers our parts in the spawned worker)

    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(repo_root, width=4))
    model.init_weights()
    before = [p.detach().clone() for p in model.parameters()]
    ddp = MMDistributedDataParallel(module=model, find_unused_parameters=False)
    optim = OptimWrapper(torch.optim.SGD(ddp.parameters(), lr=0.1))
    log = ddp.train_step(_batch([(45, 61), (45, 61)], seed=rank), optim)  # different data per rank
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    ddp.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_batch([(37, 53)], seed=5), False)
        pred = ddp.module.predict(data["inputs"], data["data_samples"])[0].pred_sem_seg.data
    torch.save(
        dict(
            loss=float(log["loss"]),
            same=all(torch.equal(gathered[0], g) for g in gathered),
            moved=any(not torch.equal(a, b) for a, b in zip(before, model.parameters())),
            pred_shape=tuple(pred.shape),
        ),
        os.path.join(result_dir, f"rank{rank}.pt"),
    )
    dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_processes_gloo(repo_root, tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, free_port(), repo_root, str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for r in results:
        assert np.isfinite(r["loss"]) and r["same"] and r["moved"] and r["pred_shape"] == (1, 37, 53)
    assert results[0]["loss"] != results[1]["loss"]  # each rank saw its own data


# --- CamVid dataset --------------------------------------------------------------------------------


def test_camvid_dataset_is_ours_and_maps_void_to_255(shared_data):
    from segclassics.mmseg.camvid_dataset import CamVidDataset

    assert DATASETS.get("CamVidDataset") is CamVidDataset  # no clash with an mmseg class
    root = shared_data("camvid")
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]
    ds = DATASETS.build(
        dict(
            type="CamVidDataset",
            data_root=str(root),
            pipeline=pipeline,
            data_prefix=dict(img_path="images/val", seg_map_path="labels/val"),
        )
    )
    assert len(ds) == 101 and ds.metainfo["classes"][0] == "Sky"
    item = ds[0]
    from PIL import Image

    raw = np.asarray(Image.open(item["seg_map_path"]))
    assert (raw == 11).any()
    seg = item["gt_seg_map"]
    assert np.array_equal(seg == 255, raw == 11) and np.array_equal(seg[raw != 11], raw[raw != 11])
    assert item["img"].shape[:2] == seg.shape == (360, 480)


def _tiny_camvid(tmp_path, label_value=3, label_size=(8, 6)):
    from PIL import Image

    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    Image.new("RGB", (8, 6)).save(tmp_path / "images" / "train" / "a.jpg")
    Image.fromarray(np.full(label_size[::-1], label_value, np.uint8)).save(tmp_path / "labels" / "train" / "a.png")
    return dict(
        type="CamVidDataset",
        data_root=str(tmp_path),
        pipeline=[],
        data_prefix=dict(img_path="images/train", seg_map_path="labels/train"),
    )


def test_camvid_dataset_bad_inputs_name_the_file(tmp_path):
    from segclassics.datasets.camvid import CamVidFormatError
    from segclassics.datasets.paths import DatasetNotFoundError

    cfg = _tiny_camvid(tmp_path)
    assert len(DATASETS.build(cfg)) == 1
    with pytest.raises(FileNotFoundError, match="split file not found: .*missing.txt"):
        DATASETS.build(dict(cfg, ann_file="missing.txt"))
    (tmp_path / "split.txt").write_text("/SegNet/CamVid/train/a.png /SegNet/CamVid/trainannot/a.png\n")
    assert len(DATASETS.build(dict(cfg, ann_file="split.txt"))) == 1
    with pytest.raises(DatasetNotFoundError, match="CamVid data not found"):
        DATASETS.build(dict(cfg, data_root=str(tmp_path / "nowhere")))
    bad = _tiny_camvid(tmp_path / "b", label_value=12)
    with pytest.raises(CamVidFormatError, match=r"a.png: label values \[12\]"):
        DATASETS.build(bad)
    bad = _tiny_camvid(tmp_path / "c", label_size=(8, 5))
    with pytest.raises(CamVidFormatError, match="same size"):
        DATASETS.build(bad)


# --- the evaluator -----------------------------------------------------------------------------------


def test_segnet_metric_wraps_the_framework_free_code():
    from segclassics.evaluation.seg_metrics import SegNetMetrics

    metric = METRICS.build(dict(type="SegNetMetric"))
    metric.dataset_meta = dict(classes=("a", "b", "c"))
    rng = np.random.default_rng(0)
    ref = SegNetMetrics(3)
    samples = []
    for _ in range(3):
        gt = rng.integers(0, 3, (20, 24))
        gt[0, :5] = 255
        pred = np.where(rng.random((20, 24)) < 0.7, gt % 3, rng.integers(0, 3, (20, 24)))
        ref.update(pred, gt)
        samples.append(
            dict(pred_sem_seg=dict(data=torch.from_numpy(pred)[None]), gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))
        )
    metric.process({}, samples)
    out = metric.compute_metrics(metric.results)
    want = ref.compute()
    assert set(out) == {"G", "C", "mIoU", "BF"}
    for k in out:
        assert out[k] == pytest.approx(want[k], abs=0.006)


@pytest.mark.slow
def test_short_mmseg_training_lowers_the_loss(run_tool, synthetic_root, tmp_path, repo_root):
    work = tmp_path / "work"
    r = run_tool(
        "train.py",
        repo_root / "configs" / "segnet" / "segnet_basic_synthetic.py",
        "--work-dir",
        work,
        "--cfg-options",
        *data_root_overrides(synthetic_root),
        "model.backbone.channels=8",
        "model.decode_head.in_channels=8",
        "model.decode_head.channels=8",
        "model.data_preprocessor.size=[64,64]",
        "train_dataloader.batch_size=4",
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False",
        "train_cfg.max_iters=40",
        "train_cfg.val_interval=40",
        "default_hooks.logger.interval=5",
        "default_hooks.checkpoint.interval=40",
        "param_scheduler.0.end=40",
        "optim_wrapper.optimizer.lr=0.003",
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    text = r.stdout + r.stderr
    losses = [float(v) for v in re.findall(r"decode\.loss_ce: ([0-9.]+)", text)]
    assert len(losses) >= 4, text[-2000:]
    assert np.mean(losses[-2:]) < np.mean(losses[:2])
    assert re.search(r"mIoU: [0-9.]+", text) and re.search(r"BF: [0-9.]+", text)


def test_class_weighted_ce_with_ignored_pixels_by_hand():
    loss = MODELS.build(dict(type="ClassWeightedCrossEntropyLoss", class_weight=[1.0, 3.0]))
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 3)
    label = torch.tensor([[[0, 1, 255]]])
    # pixel 0: -log(1/2) weight 1; pixel 1 (class 1): -log(1/(1+e^2)) weight 3; pixel 2 ignored
    l0, l1 = np.log(2.0), np.log(1 + np.exp(2.0))
    assert float(loss(logits, label)) == pytest.approx((l0 + 3 * l1) / (1 + 3), rel=1e-5)
    assert loss.loss_name == "loss_ce"
    with pytest.raises(ValueError, match="3 classes"):
        MODELS.build(dict(type="ClassWeightedCrossEntropyLoss", class_weight=[1.0, 1.0]))(
            torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long)
        )


def test_backbone_loads_torchvision_vgg16_bn_file(tmp_path):
    import torchvision as tv

    from segclassics.utils.checkpoint import CheckpointMismatchError

    with torch.device("meta"):
        ref = tv.models.vgg16_bn(weights=None)
    ref.features.to_empty(device="cpu")
    torch.manual_seed(1)
    for p in ref.features.parameters():
        torch.nn.init.normal_(p, std=0.02)
    for b in ref.features.buffers():
        b.fill_(1)
    sd = {f"features.{k}": v for k, v in ref.features.state_dict().items()}
    path = tmp_path / "vgg16_bn.pth"
    torch.save(sd, path)
    bb = MODELS.build(dict(type="SegNetBackbone", arch="vgg16", pretrained=str(path)))
    bb.init_weights()
    assert torch.equal(bb.encoder.conv5_3.weight, ref.features[40].weight)
    assert torch.equal(bb.encoder.bn1_1.running_var, ref.features[1].running_var)
    del sd["features.40.weight"]
    torch.save(sd, path)
    with pytest.raises(CheckpointMismatchError, match="conv5_3.weight"):
        MODELS.build(dict(type="SegNetBackbone", arch="vgg16", pretrained=str(path))).init_weights()
    with pytest.raises(ValueError, match="needs arch='vgg16'"):
        MODELS.build(dict(type="SegNetBackbone", arch="basic", pretrained=str(path)))
