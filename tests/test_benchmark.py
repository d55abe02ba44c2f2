"""tools/benchmark.py: JSON report fields, parameter counts, FLOPs convention, side-by-side ratios."""

from __future__ import annotations

import json
import time

import pytest
import torch

from segclassics.engine import benchmark as bm

D2_MASK_RCNN = "tests/fixtures/benchmark/d2_tiny_mask_rcnn.py"
D2_UNET = "configs/detectron2/unet_synthetic.py"
MMSEG_TINY = "tests/fixtures/benchmark/mmseg_tiny_unet.py"
MMDET_TINY = "tests/fixtures/benchmark/mmdet_tiny_mask_rcnn.py"


# Independent parameter counts: layer tables written out by hand (and torchvision's ResNet-18 size),
# not a model built the way the benchmark builds it.
def conv(cin, cout, k=1, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def conv_bn(cin, cout, k=3):
    return conv(cin, cout, k, bias=False) + 2 * cout


R18_WITHOUT_FC = 11_689_512 - (512 * 1000 + 1000)  # torchvision resnet18: 11,689,512 incl. its 1000-way fc


def _tiny_mask_rcnn_params(shared_fcs: int, mask_convs: int, classes=5, fpn=32, fc=64, mask=16, anchors=3):
    """The tiny fixtures' Mask R-CNN: R18 + FPN(32) + RPN + box head (``shared_fcs`` fcs of 64) + mask head
    (``mask_convs`` 3x3 convs of 16, then the 2x2 deconv to 16)."""
    n = R18_WITHOUT_FC
    n += sum(conv(c, fpn) + conv(fpn, fpn, 3) for c in (64, 128, 256, 512))  # lateral 1x1 + output 3x3
    n += conv(fpn, fpn, 3) + conv(fpn, anchors) + conv(fpn, 4 * anchors)  # RPN
    dims = [fpn * 7 * 7] + [fc] * shared_fcs
    n += sum(conv(a, b) for a, b in zip(dims, dims[1:]))  # box head fcs
    n += conv(fc, classes + 1) + conv(fc, 4 * classes)  # classifier (+ background), class-specific boxes
    mask_in = [fpn] + [mask] * mask_convs
    n += sum(conv(a, b, 3) for a, b in zip(mask_in, mask_in[1:]))  # mask convs
    n += conv(mask_in[-1], mask, 2) + conv(mask, classes)  # 2x2 deconv, per-class mask predictor
    return n


def _unet_same_bn_params(cin=3, classes=6, base=16, depth=4):
    """Our paper UNet ('same' padding, BN after each 3x3 conv, so no conv biases):
    configs/detectron2/unet_synthetic.py."""
    ch = [base * 2**i for i in range(depth)]
    n, c_prev = 0, cin
    for c in ch:
        n += conv_bn(c_prev, c) + conv_bn(c, c)
        c_prev = c
    for hi, c in zip(ch[::-1], ch[-2::-1]):
        n += conv(hi, c, 2) + conv_bn(2 * c, c) + conv_bn(c, c)  # 2x2 up-conv (bias), two convs
    return n + conv(base, classes)


# detectron2: fc_dims=[64]; conv_dims=[16] is the deconv alone. mmdet: Shared2FCBBoxHead, num_convs=1.
D2_MASK_RCNN_PARAMS = _tiny_mask_rcnn_params(shared_fcs=1, mask_convs=0)
MMDET_MASK_RCNN_PARAMS = _tiny_mask_rcnn_params(shared_fcs=2, mask_convs=1)
D2_UNET_PARAMS = _unet_same_bn_params()


def _mmseg_tiny_unet_params():
    """tests/fixtures/benchmark/mmseg_tiny_unet.py: mmseg's UNet (base 8, 3 stages, ConvModule = conv + BN,
    InterpConv = upsample + 1x1 conv-BN) + FCNHead (one 3x3 conv-BN, classifier)."""
    ch = [8, 16, 32]
    n, c_prev = 0, 3
    for c in ch:
        n += conv_bn(c_prev, c) + conv_bn(c, c)
        c_prev = c
    for hi, c in zip(ch[::-1], ch[-2::-1]):
        n += conv_bn(hi, c, 1) + conv_bn(2 * c, c) + conv_bn(c, c)
    return n + conv_bn(8, 8) + conv(8, 6)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _check_timings(r, iters, wall, train=True):
    """The timed iterations are part of the call: their reported time fits in the wall clock the test
    measured around it (so the throughput is at least batch * iters / wall), and a training step keeps
    a gradient and an SGD momentum buffer per parameter alive (float32), which the peak memory covers."""
    for phase in ("infer", "train") if train else ("infer",):
        assert 0 < iters * r[f"{phase}_ms_per_batch"] / 1000 <= wall, (r["config"], phase, wall)
        assert r[f"{phase}_images_per_s"] == pytest.approx(r["batch"] * 1000 / r[f"{phase}_ms_per_batch"])
    if train:
        assert r["train_peak_mem_mb"] >= 2 * 4 * r["trainable_params"] / 2**20, r


def test_flop_convention_on_a_conv():
    """A multiply-add counts 2: Conv2d(3->8, k3, pad 1) on 1x3x20x30 = 2 * 3*8*9 * 20*30 FLOPs."""
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.zeros(1, 3, 20, 30)
    assert bm.count_flops(lambda: conv(x)) == 2 * 3 * 8 * 9 * 20 * 30
    lin = torch.nn.Linear(16, 4, bias=False)
    assert bm.count_flops(lambda: lin(torch.zeros(5, 16))) == 2 * 5 * 16 * 4


def test_macs_equal_mmengine_get_flops_convention():
    """``gmacs`` is what mmseg's get_flops.py (mmengine.analysis) prints as "Flops": on convolutions
    and a linear layer the two counts are equal, and half of ``gflops``."""
    from mmengine.analysis import get_model_complexity_info

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, bias=False),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 4, 1, bias=False),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 20 * 30, 5, bias=False),
    )
    x = torch.zeros(1, 3, 20, 30)
    theirs = get_model_complexity_info(model, input_shape=(3, 20, 30), show_table=False, show_arch=False)["flops"]
    assert theirs == 3 * 8 * 9 * 600 + 8 * 4 * 600 + 4 * 600 * 5
    assert bm.count_flops(lambda: model(x)) == 2 * theirs


def test_detectron2_pair_report(repo_root, monkeypatch):
    pytest.importorskip("detectron2")
    monkeypatch.chdir(repo_root)
    report, wall = _timed(
        lambda: bm.run([D2_MASK_RCNN, D2_UNET], shape=(64, 64), batch=2, iters=1, warmup=1, log=lambda s: None)
    )
    assert set(report) >= {"machine", "settings", "results", "ratios", "ratio_direction"}
    m = report["machine"]
    for key in ("cpu_model", "cpu_logical_cores", "torch_version", "device", "device_name", "torch_threads"):
        assert m[key] not in (None, "")
    assert m["torch_version"] == torch.__version__
    s = report["settings"]
    assert s["shape"] == [64, 64] and s["batch"] == 2 and "multiply-add = 2 FLOPs" in s["flops_method"]
    rcnn, unet = report["results"]
    assert (rcnn["framework"], rcnn["task"], rcnn["model_class"]) == ("detectron2", "instance", "GeneralizedRCNN")
    assert (unet["framework"], unet["task"]) == ("detectron2", "semantic")
    assert rcnn["params"] == D2_MASK_RCNN_PARAMS
    assert unet["params"] == D2_UNET_PARAMS
    for r in (rcnn, unet):
        _check_timings(r, 1, wall)
    assert report["ratio_direction"] == "config2 / config1"
    assert report["ratios"]["params"] == pytest.approx(unet["params"] / rcnn["params"])
    table = bm.format_table(report["results"])
    assert "ratio (2nd / 1st)" in table and "GFLOPs / image" in table


def test_flops_scale_with_pixels(repo_root, monkeypatch):
    """A fully convolutional net ('same' padding) does 4x the FLOPs on 2x the side."""
    pytest.importorskip("detectron2")
    monkeypatch.chdir(repo_root)
    small = bm.benchmark_config(D2_UNET, (32, 32), 1, iters=1, warmup=0, train=False, log=lambda s: None)
    big = bm.benchmark_config(D2_UNET, (64, 64), 1, iters=1, warmup=0, train=False, log=lambda s: None)
    assert big["gflops"] == pytest.approx(4 * small["gflops"], rel=1e-6)
    assert "train_images_per_s" not in small


def test_mmseg_tiny(repo_root, monkeypatch):
    pytest.importorskip("mmseg")
    monkeypatch.chdir(repo_root)
    report, wall = _timed(lambda: bm.run([MMSEG_TINY], shape=(32, 48), batch=2, iters=1, warmup=0, log=lambda s: None))
    (r,) = report["results"]
    assert (r["framework"], r["model_class"], r["num_classes"]) == ("mmseg", "EncoderDecoder", 6)
    assert r["params"] == _mmseg_tiny_unet_params()
    assert r["model_input_shape"] == [32, 48] and r["train_model_input_shape"] == [32, 48]  # 16-divisible
    _check_timings(r, 1, wall)
    assert report["ratios"] == {}


def test_grey_model_gets_grey_images(repo_root, monkeypatch):
    """The synthetic batch has the channels the model takes: the ISBI UNet's are one (grey)."""
    pytest.importorskip("mmseg")
    monkeypatch.chdir(repo_root)
    r = bm.benchmark_config(
        "configs/unet/unet_valid_isbi2012_cpu.py", (64, 64), 1, iters=1, warmup=0, train=True, log=lambda s: None
    )
    # training pads to the config's 380x380 tile; inference tiles the 64x64 image itself
    assert r["train_model_input_shape"] == [380, 380] and r["model_input_shape"] == [64, 64]
    assert r["infer_images_per_s"] > 0 and r["train_images_per_s"] > 0


def test_mmdet_tiny(repo_root, monkeypatch):
    pytest.importorskip("mmdet")
    monkeypatch.chdir(repo_root)
    report, wall = _timed(lambda: bm.run([MMDET_TINY], shape=(64, 64), batch=2, iters=1, warmup=0, log=lambda s: None))
    (r,) = report["results"]
    assert (r["framework"], r["task"], r["model_class"], r["num_classes"]) == ("mmdet", "instance", "MaskRCNN", 5)
    assert r["params"] == MMDET_MASK_RCNN_PARAMS
    assert r["model_input_shape"] == [64, 64]  # already a multiple of pad_size_divisor=32
    _check_timings(r, 1, wall)


@pytest.mark.slow
def test_tool_cli_json(run_tool, tmp_path):
    pytest.importorskip("detectron2")
    out = tmp_path / "bench.json"
    res = run_tool(
        "benchmark.py",
        D2_UNET,
        "--shape",
        32,
        32,
        "--batch",
        1,
        "--iters",
        1,
        "--warmup",
        0,
        "--no-train",
        "--json",
        out,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "GFLOPs / image" in res.stdout and "params (M)" in res.stdout
    report = json.loads(out.read_text())
    (r,) = report["results"]
    assert r["params"] == D2_UNET_PARAMS
    assert "train_images_per_s" not in r and report["settings"]["train"] is False


@pytest.mark.slow
def test_tool_bad_input(run_tool, tmp_path):
    res = run_tool("benchmark.py", tmp_path / "nope.py", "--shape", 32, 32)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error: config not found")


def test_bad_arguments():
    from segclassics.errors import UserError

    with pytest.raises(UserError, match="H, W >= 16"):
        bm.run([D2_UNET], shape=(8, 8), batch=1)
    with pytest.raises(UserError, match="one or two configs"):
        bm.run([D2_UNET] * 3, shape=(32, 32), batch=1)
    with pytest.raises(UserError, match="--batch >= 1"):
        bm.run([D2_UNET], shape=(32, 32), batch=0)


def test_onnx_benchmark_alternates_its_steps():
    """deploy/benchmark.py's interleaved medians: warm-up, then the steps in turn, every repeat."""
    from segclassics.deploy.benchmark import interleaved_medians

    calls = []
    out = interleaved_medians([lambda: calls.append("a"), lambda: calls.append("b")], iters=3, warmup=1, repeats=2)
    assert calls == ["a", "b"] * (1 + 3 * 2)
    assert [len(per_step) for per_step in out] == [2, 2] and all(t >= 0 for r in out for t in r)


@pytest.mark.parametrize("kernel_peak", [True, False], ids=["VmHWM", "psutil sampling"])
def test_phase_peak_memory_is_the_phase_own_peak(monkeypatch, kernel_peak):
    """64 MiB written inside the block count (>= 64); a later block that writes 16 MiB reports the
    16, not the earlier 64 (the peak starts again at each block: below 64)."""
    if not kernel_peak:
        monkeypatch.setattr(bm, "_reset_peak_rss", lambda: False)

    def touch(mib):
        buf = torch.empty(mib * 2**20, dtype=torch.uint8)
        buf.fill_(1)
        return buf

    with bm.PhasePeakMemory("cpu") as big:
        kept = touch(64)
    del kept
    with bm.PhasePeakMemory("cpu") as small:
        kept = touch(16)
    del kept
    assert big.mib >= 64
    assert 16 <= small.mib < 64
