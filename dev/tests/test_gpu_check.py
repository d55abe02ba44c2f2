"""The GPU check (dev/gpu_check, docs/gpu.md): the pieces that run without a GPU or the bundle.

* the ``mmcv.ops`` shim (torchvision kernels) against mmcv's compiled CPU ops of this
  environment, on random boxes and feature maps;
* the parity statistics and the report's SETR heading on hand-made numbers;
* part 1 on one model, on the CPU (same device and weights: exactly equal);
* the runner itself with ``--no-install`` on the real CamVid and ISBI data (the reproductions,
  tiny), checking the files it writes.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

GPU_CHECK_DIR = "dev/gpu_check"


@pytest.fixture(scope="module")
def gpu_check(repo_root):
    sys.path.insert(0, str(repo_root / GPU_CHECK_DIR))
    yield repo_root / GPU_CHECK_DIR
    sys.path.remove(str(repo_root / GPU_CHECK_DIR))


@pytest.fixture(scope="module")
def shim(repo_root):
    path = repo_root / GPU_CHECK_DIR / "mmcv_ops_shim" / "__init__.py"
    spec = importlib.util.spec_from_file_location("gpu_check_mmcv_ops_shim", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _boxes(n, seed, size=64.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 2 + 1
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g)


def test_shim_nms_equals_mmcv_compiled_nms(shim):
    import mmcv.ops as ops  # full mmcv is part of the tested stack: a broken one must fail here

    boxes, scores = _boxes(300, 0)
    for kwargs in (dict(), dict(score_threshold=0.3), dict(max_num=20)):
        dets, keep = ops.nms(boxes, scores, 0.5, **kwargs)
        s_dets, s_keep = shim.nms(boxes, scores, 0.5, **kwargs)
        assert torch.equal(keep, s_keep), kwargs
        assert torch.equal(dets, s_dets), kwargs
    dets, keep = shim.nms(boxes.numpy(), scores.numpy(), 0.5)  # numpy in, numpy out, like mmcv
    assert isinstance(dets, np.ndarray) and np.array_equal(keep, ops.nms(boxes, scores, 0.5)[1].numpy())


def test_shim_batched_nms_equals_mmcv_compiled(shim):
    import mmcv.ops as ops  # full mmcv is part of the tested stack: a broken one must fail here

    boxes, scores = _boxes(400, 1)
    idxs = torch.randint(0, 5, (400,), generator=torch.Generator().manual_seed(2))
    for cfg in (
        dict(type="nms", iou_threshold=0.6),
        dict(type="nms", iou_threshold=0.6, max_num=50),
        dict(type="nms", iou_threshold=0.6, class_agnostic=True),
        None,
    ):
        dets, keep = ops.batched_nms(boxes, scores, idxs, cfg)
        s_dets, s_keep = shim.batched_nms(boxes, scores, idxs, cfg)
        assert torch.equal(keep, s_keep), cfg
        assert torch.equal(dets, s_dets), cfg


def test_shim_batched_nms_refuses_what_it_cannot_do(shim):
    boxes, scores = _boxes(4, 3)
    with pytest.raises(NotImplementedError, match="nms type 'soft_nms' needs mmcv's compiled ops"):
        shim.batched_nms(boxes, scores, torch.zeros(4, dtype=torch.long), dict(type="soft_nms", iou_threshold=0.5))


@pytest.mark.parametrize("aligned,sampling_ratio", [(True, 0), (True, 2), (False, 0)])
def test_shim_roi_align_equals_mmcv_compiled(shim, aligned, sampling_ratio):
    import mmcv.ops as ops  # full mmcv is part of the tested stack: a broken one must fail here

    feats = torch.randn(2, 8, 16, 16, generator=torch.Generator().manual_seed(4))
    boxes, _ = _boxes(10, 5)
    rois = torch.cat([torch.arange(10).remainder(2)[:, None].float(), boxes], 1)
    ref = ops.RoIAlign((7, 7), 0.25, sampling_ratio, "avg", aligned)(feats, rois)
    got = shim.RoIAlign(7, 0.25, sampling_ratio, "avg", aligned)(feats, rois)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        shim.roi_align(feats, rois, (7, 7), 0.25, sampling_ratio, "avg", aligned), ref, rtol=1e-5, atol=1e-6
    )
    assert shim.RoIAlign(7).output_size == (7, 7)  # mmdet's RoI extractor unpacks it


def test_shim_placeholder_imports_but_refuses_use(shim):
    cls = shim.DeformConv2d
    assert cls is shim.DeformConv2d and issubclass(cls, torch.nn.Module)

    class Sub(cls):  # mmdet subclasses some of them at import time
        pass

    with pytest.raises(NotImplementedError) as err:
        Sub(3, 3, 3)
    assert str(err.value) == (
        "mmcv.ops.DeformConv2d needs mmcv's compiled ops, which this mmcv (built with "
        "MMCV_WITH_OPS=0, ops shimmed over torchvision) does not have"
    )


def test_parity_statistics_on_hand_made_tensors(gpu_check):
    from common import parity

    p = parity(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 5.0]))
    assert p["max_abs"] == 1.0 and p["ref_max_abs"] == 4.0 and p["max_abs_rel"] == 0.25
    assert p["rel_l2"] == pytest.approx(1 / 5)  # ||(0, 1)|| / ||(3, 4)||
    assert math.isnan(parity(torch.zeros(2), torch.ones(2))["rel_l2"])  # no scale to be relative to


def test_models_part_on_cpu_is_exact_for_the_same_device(gpu_check):
    """Part 1 on SegNet-Basic with CPU as the 'device': same weights, same kernels -> zero error."""
    import part_models

    out = {}
    part_models.check_model(
        "SegNet-Basic",
        "configs/segnet/segnet_basic_camvid.py",
        ["model.data_preprocessor.size=(32,48)"],
        (32, 48),
        "cpu",
        out,
    )
    assert out["framework"] == "mmseg" and out["params"] == 1_416_075  # SegNetBasic docstring, 11 classes
    fp32 = out["parity_fp32"]
    assert fp32["output"]["max_abs"] == 0.0 and fp32["grad"]["rel_l2"] == 0.0 and fp32["argmax_agreement"] == 1.0
    assert out["parity_bf16"]["output"]["finite"] and out["parity_bf16"]["output"]["rel_l2"] > 0
    for key in ("step_fp32", "step_bf16"):
        assert out[key]["finite"] and "loss" in " ".join(out[key]["losses"]), out[key]


def test_report_names_the_setr_size_it_measured(gpu_check):
    """A smoke run measures a shortened ViT-L at a small size; the report's heading says so."""
    from report import _setr_size

    smoke = {"parts": {"setr": {"results": {"settings": {"layers": 4, "size": 64}}}}}
    full = {"parts": {"setr": {"results": {"settings": {"layers": 24, "size": 512}}}}}
    assert _setr_size(smoke) == "ViT-L/16 (4 of its 24 layers) at 64x64"
    assert _setr_size(full) == _setr_size({"parts": {}}) == "ViT-L/16 at 512x512"


@pytest.mark.slow
def test_runner_reproductions_on_shared_data(repo_root, shared_data, tmp_path):
    data = shared_data("camvid").parent
    shared_data("isbi2012")
    cmd = [
        sys.executable,
        str(repo_root / GPU_CHECK_DIR / "run.py"),
        "--device",
        "cpu",
        "--smoke",
        "--no-install",
        "--parts",
        "camvid,isbi",
        "--data-root",
        str(data),
        "--budget",
        "400",
        "--out",
        str(tmp_path),
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    r = subprocess.run(cmd, cwd=repo_root, env=env, text=True, capture_output=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert set(report["parts"]) == {"camvid", "isbi"}
    assert all(p["status"] == "ok" for p in report["parts"].values())
    cam = report["parts"]["camvid"]["results"]["items"]["evaluate SegNet-Basic on CamVid val"]
    # the metric functions themselves are tested with exact values in test_seg_metrics.py / test_unet_mmseg.py;
    # here: the runner evaluated what it says it did and reported every paper metric
    assert cam["images"] == 4 and all(math.isfinite(cam[k]) for k in ("G", "C", "mIoU", "BF"))
    isbi = report["parts"]["isbi"]["results"]["items"]["evaluate UNet on ISBI slices 24-29"]
    assert all(math.isfinite(isbi[k]) for k in ("pixel_error", "rand_error"))
    md = (tmp_path / "gpu_check.md").read_text()
    assert "| SegNet-Basic / CamVid val |" in md and "| UNet / ISBI 2012 slices 24-29 |" in md
    assert report["total_s"] <= 400  # the budget (with --smoke each part keeps to its own 50 s box)
