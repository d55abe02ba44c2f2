"""Every model family under the frameworks' tracing tools: ``torch.jit.trace`` (TorchScript export,
mmengine's complexity counter behind mmseg's ``get_flops.py``, fvcore's ``FlopCountAnalysis`` behind
detectron2's ``analyze_model.py``), torch.onnx's TorchScript-based exporter (``dynamo=False``) and
detectron2's ``TracingAdapter`` (``export_model.py --export-method tracing``).

The dynamo exporter (``torch.export``) is covered by tests/test_onnx_export.py. Models are built from
the configs at small widths, with random weights and BN statistics so the comparisons cannot pass on
constant outputs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

TINY_SEGNET = "[4,4,8,8,8]"
FAMILIES = {  # family -> (config, overrides)
    "FCN-8s": ("configs/fcn/fcn8s_vgg16_synthetic.py", []),
    "UNet": ("configs/unet/unet_synthetic.py", []),
    "SegNet": (
        "configs/segnet/segnet_vgg16_camvid.py",
        [
            f"model.backbone.widths={TINY_SEGNET}",
            f"model.decode_head.widths={TINY_SEGNET}",
            "model.decode_head.in_channels=8",
            "model.decode_head.channels=4",
        ],
    ),
    "SegNet-Basic": ("configs/segnet/segnet_basic_synthetic.py", []),
    "SETR-PUP": ("configs/setr/setr_pup_vit-tiny_synthetic.py", []),
}
# (example size, a second size the trace must generalise to): the families' valid sizes
SIZES = {
    "FCN-8s": ((64, 64), (45, 77)),
    "UNet": ((64, 64), (48, 80)),
    "SegNet": ((64, 64), (45, 61)),
    "SegNet-Basic": ((64, 64), (45, 61)),
    "SETR-PUP": ((128, 128), (80, 200)),
}


def _randomise(model: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * (2 / p[0].numel()) ** 0.5)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _net(family: str):
    """The config's plain network (image tensor in, logits out), eval mode, random weights."""
    from segclassics.deploy.cli import build, wrap

    config, overrides = FAMILIES[family]
    loaded, model, found = build(config, None, overrides, False)
    assert found.name.split(" (")[0] == family
    _randomise(model)
    wrapper, _ = wrap(loaded, model, False, False)
    return wrapper.eval(), model.eval()


def _images(n, h, w, seed):
    return torch.randn((n, 3, h, w), generator=torch.Generator().manual_seed(seed))


def _trace(module, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and TracerWarnings of the size checks
        return torch.jit.trace(module, x, check_trace=False)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_traces_and_the_trace_equals_eager(family):
    net, _ = _net(family)
    (h, w), (h2, w2) = SIZES[family]
    x = _images(1, h, w, 0)
    traced = _trace(net, x)
    with torch.no_grad():
        eager, out = net(x), traced(x)
        assert eager.abs().max() > 1e-2  # not a constant map
        assert torch.equal(out, eager)
        # the trace records sizes as computed values, so it also runs a second (batch, size)
        x2 = _images(2, h2, w2, 1)
        eager2, out2 = net(x2), traced(x2)
    assert out2.shape == eager2.shape and torch.allclose(out2, eager2, atol=1e-5, rtol=1e-5)


def test_segnet_unpooling_traces_to_a_scatter_at_the_recorded_sizes():
    from segclassics.models.segnet import max_pool_with_record, max_unpool

    def pool_unpool(x):
        y, rec = max_pool_with_record(x)
        return max_unpool(y, rec)

    traced = _trace(pool_unpool, torch.randn(1, 2, 8, 8))
    x = torch.randn(2, 3, 45, 61)  # odd: ceil-mode pool to 23x31, unpool back to 45x61
    y, rec = max_pool_with_record(x)
    expected = torch.nn.functional.max_unpool2d(y, rec.indices, 2, 2, output_size=(45, 61))
    assert torch.equal(traced(x), expected)


@pytest.mark.parametrize("family", ["SegNet-Basic", "SegNet"])
def test_framework_flop_counters_count_segnet_like_tools_benchmark(family):
    """mmengine's get_model_complexity_info (mmseg get_flops.py) and fvcore's FlopCountAnalysis
    (detectron2 analyze_model.py) trace the model; their MACs equal tools/benchmark.py's
    (convolutions exactly; the totals, which add BN, within 1%)."""
    from fvcore.nn import FlopCountAnalysis
    from mmengine.analysis import get_model_complexity_info

    from segclassics.engine.benchmark import count_flops

    if family == "SegNet":  # the paper's widths, small input: BN's share is as in the real model
        from segclassics.models.segnet import SegNet

        net, mmseg_model = SegNet(11).eval(), None
    else:
        net, mmseg_model = _net(family)
    x = _images(1, 45, 61, 0)
    macs = count_flops(lambda: net(x)) / 2  # tools/benchmark.py's gmacs * 1e9
    assert macs > 0
    fv = FlopCountAnalysis(net, x)
    fv.unsupported_ops_warnings(False)
    fv.uncalled_modules_warnings(False)
    assert fv.by_operator()["conv"] == macs
    assert abs(fv.total() - macs) <= 0.01 * macs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = get_model_complexity_info(net, inputs=(x,), show_table=False, show_arch=False)
    assert abs(info["flops"] - macs) <= 0.01 * macs
    if mmseg_model is not None:  # what get_flops.py passes: the mmseg model, tensor mode
        info = get_model_complexity_info(mmseg_model, inputs=(x,), show_table=False, show_arch=False)
        assert abs(info["flops"] - macs) <= 0.01 * macs


@pytest.mark.parametrize("family", ["SegNet-Basic", "SegNet", "SETR-PUP"])
def test_torchscript_onnx_exporter(tmp_path, family):
    """torch.onnx.export(dynamo=False) with dynamic batch/height/width, checked in onnxruntime
    at the export size and at a second size (SegNet: odd, ceil-mode pools and unpooling back;
    SETR: another patch grid, position embedding resized)."""
    ort = pytest.importorskip("onnxruntime")
    from segclassics.deploy.verify import min_pool_gap

    net, _ = _net(family)
    path = tmp_path / "model.onnx"
    (h, w), (h2, w2) = SIZES[family]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (_images(1, h, w, 0),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n", 2: "h", 3: "w"}},
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    sizes = [(1, h, w), (2, h2, w2)]
    for seed, (n, h, w) in enumerate(sizes, start=8):
        x = _images(n, h, w, seed)
        if family.startswith("SegNet"):  # no fp32 near-tie where either runtime may pick either argmax
            assert min_pool_gap(net, x) > 1e-5
        with torch.no_grad():
            expected = net(x).numpy()
        (got,) = session.run(None, {"image": x.numpy()})
        assert got.shape == expected.shape == (n, net(x[:1]).shape[1], h, w)
        assert np.abs(expected).max() > 1e-1
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


D2_CONFIGS = [
    "configs/detectron2/segnet_basic_synthetic.py",
    "configs/detectron2/setr_pup_synthetic.py",
    "configs/detectron2/unet_synthetic.py",
    "configs/detectron2/fcn8s_vgg16_synthetic.py",
]


@pytest.mark.parametrize("config", D2_CONFIGS)
def test_detectron2_tracing_adapter(config):
    """What detectron2's export_model.py --export-method tracing does with a semantic model:
    TracingAdapter + torch.jit.trace; the trace equals the eager model's sem_seg at a second size."""
    from detectron2.export import TracingAdapter

    from segclassics.deploy.cli import build

    _, model, _ = build(config, None, (), False)
    _randomise(model)
    model.eval()

    def sem_seg(model, inputs):
        return [out["sem_seg"] for out in model(inputs)]

    image = torch.randint(0, 256, (3, 64, 80), generator=torch.Generator().manual_seed(0)).float()
    adapter = TracingAdapter(model, [{"image": image}], sem_seg)
    traced = _trace(adapter, adapter.flattened_inputs)
    with torch.no_grad():
        for h, w in ((64, 80), (48, 96)):
            x = torch.randint(0, 256, (3, h, w), generator=torch.Generator().manual_seed(h)).float()
            expected = model([{"image": x}])[0]["sem_seg"]
            (got,) = traced(x)
            assert expected.shape[1:] == (h, w) and expected.std() > 1e-3
            assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_detectron2_flop_count_of_segnet_equals_tools_benchmark():
    """detectron2's analyze_model.py --tasks flop (detectron2.utils.analysis.FlopCountAnalysis) on
    the detectron2 SegNet-Basic: its MACs equal tools/benchmark.py's within 1%."""
    from detectron2.utils.analysis import FlopCountAnalysis

    from segclassics.deploy.cli import build
    from segclassics.engine.benchmark import count_flops

    _, model, _ = build("configs/detectron2/segnet_basic_synthetic.py", None, (), False)
    model.eval()
    inputs = [{"image": torch.randint(0, 256, (3, 64, 80), generator=torch.Generator().manual_seed(0)).float()}]
    macs = count_flops(lambda: model(inputs)) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counter = FlopCountAnalysis(model, inputs)
        counter.unsupported_ops_warnings(False)
        counter.uncalled_modules_warnings(False)
        total = counter.total()
    assert macs > 0 and abs(total - macs) <= 0.01 * macs
