"""ONNX export (segclassics.deploy, tools/export_onnx.py): every model family exported with dynamic
batch/height/width and compared with PyTorch in onnxruntime on two input sizes.

Small widths keep the exports to seconds; the graphs have the configs' structure (same layers,
pools, unpooling, crops, position-embedding resize). Weights are re-drawn where a model starts
with zeros (FCN's score layers) so that the comparison cannot pass on all-zero logits.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segclassics.deploy.export import ExportFailedError, check_dynamic_inputs, export_onnx, read_metadata, trace
from segclassics.deploy.families import UnsupportedModelError, find_family, unet_size_rule
from segclassics.deploy.sizes import InvalidInputSizeError, SizeRule
from segclassics.deploy.verify import TOLERANCE, compare, min_pool_gap, random_images
from segclassics.models.setr_heads import build_setr
from segclassics.models.unet import UNetEncoder, unet_valid_sizes

pytest.importorskip("onnxruntime")


def _randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial weights and BN statistics (FCN's score layers start at zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:  # He-scaled conv / linear weights: activations keep their scale, logits are O(1)
                p.copy_(torch.randn(p.shape, generator=g) * (2 / p[0].numel()) ** 0.5)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _export_and_compare(tmp_path, wrapper, family, channels, sizes, normalized=True, seed=0):
    """Export with a non-square example, then check each ``(batch, H, W)`` in onnxruntime
    (input ``i`` drawn with ``seed + i``)."""
    rule = family.sizes
    h = rule.at_least(sizes[0][1])
    example = random_images((2, channels, h, rule.at_least(h + 1)), normalized, seed=99)
    path = str(tmp_path / "model.onnx")
    export_onnx(wrapper, path, example, rule, output_name=wrapper.output_name)
    checks = compare(
        path,
        wrapper,
        [random_images((n, channels, hh, ww), normalized, seed=seed + i) for i, (n, hh, ww) in enumerate(sizes)],
    )
    return path, checks


def _meaningful(checks) -> bool:
    """Every check within the 1e-4 criterion, on logits at least 1000x larger than it (so the
    comparison cannot pass on near-zero outputs)."""
    return all(c.passed() and c.max_abs_output > 1000 * TOLERANCE for c in checks)


def _config_wrapper(config, overrides=(), normalization=False, argmax=False):
    from segclassics.deploy.cli import build, wrap

    loaded, model, family = build(config, None, overrides, False)
    _randomise(model)
    wrapper, sf = wrap(loaded, model, normalization, argmax)
    return wrapper, sf, family, model


# ----------------------------------------------------------------------------- size rules


def test_size_rule_arithmetic():
    rule = SizeRule(16, 188, 188)
    assert rule.valid_sizes(180, 240) == [188, 204, 220, 236]
    assert rule.nearest(190) == [188, 204] and rule.nearest(188) == [204] and rule.nearest(100) == [188]
    assert rule.describe() == "188 + 16k (k >= 0): 188, 204, 220, ..."
    assert SizeRule(8, 0, 8).describe() == "multiples of 8"
    assert SizeRule().describe() == "any size >= 1"


def test_unet_rules_match_the_models_own_size_arithmetic():
    # the paper net: 124 + 16k for k >= 4 (Ronneberger et al. Fig. 1: 572 -> 388)
    valid = unet_size_rule(UNetEncoder(1, 4, 5, "valid"))
    assert valid.valid_sizes(1, 700) == unet_valid_sizes(5, "valid", max_size=700)
    assert valid.is_valid(572) and not valid.is_valid(570)
    same = unet_size_rule(UNetEncoder(3, 4, 4, "same"))
    assert same.valid_sizes(1, 100) == unet_valid_sizes(4, "same", max_size=100)


def test_invalid_size_message():
    rule = unet_size_rule(UNetEncoder(1, 4, 5, "valid"))
    with pytest.raises(InvalidInputSizeError) as e:
        rule.check((204, 190), "UNet (valid padding, depth 5)")
    assert str(e.value) == (
        "input width 190 is not valid for UNet (valid padding, depth 5): it takes 188 + 16k (k >= 0): 188, "
        "204, 220, ... (an even map before each 2x2 max pool after the unpadded 3x3 convs); nearest valid "
        "widths: [188, 204]"
    )


def test_a_frozen_size_is_an_error():
    class Frozen(torch.nn.Module):
        def forward(self, x):
            return x[..., : int(x.shape[-2]) - 1, :]  # int() turns the traced height into a constant

    with pytest.raises(ExportFailedError, match="^torch.export failed for Frozen"):
        trace(Frozen(), torch.zeros(2, 3, 10, 12), SizeRule())
    static = torch.export.export(Frozen(), (torch.zeros(2, 3, 10, 12),), strict=False)
    with pytest.raises(ExportFailedError) as e:
        check_dynamic_inputs(static)
    assert str(e.value) == (
        "the traced graph fixed the batch, height, width of the input to (2, 3, 10, 12); "
        "a Python int() or branch on a size froze it"
    )


# ----------------------------------------------------------------------------- families


def test_fcn8s_mmseg_config(tmp_path):
    wrapper, sf, family, _ = _config_wrapper("configs/fcn/fcn8s_vgg16_synthetic.py")
    assert family.name == "FCN-8s" and family.sizes == SizeRule(why=family.sizes.why)
    _, checks = _export_and_compare(tmp_path, wrapper, family, 3, [(1, 64, 64), (2, 45, 77)])
    assert [c.output_shape for c in checks] == [(1, 6, 64, 64), (2, 6, 45, 77)]
    assert _meaningful(checks), checks


@pytest.mark.parametrize("variant", ["32s", "16s"])
def test_fcn32s_16s_mmseg_config(tmp_path, variant):
    wrapper, _, family, _ = _config_wrapper(
        "configs/fcn/fcn8s_vgg16_synthetic.py", [f"model.decode_head.variant={variant}"]
    )
    assert family.name == f"FCN-{variant}"
    _, checks = _export_and_compare(tmp_path, wrapper, family, 3, [(1, 40, 40), (2, 33, 57)])
    assert [c.output_shape[2:] for c in checks] == [(40, 40), (33, 57)]
    assert _meaningful(checks), checks


def test_unet_same_mmseg_config_with_normalization_and_argmax(tmp_path):
    wrapper, sf, family, model = _config_wrapper("configs/unet/unet_synthetic.py", normalization=True, argmax=True)
    assert family.sizes.describe() == "multiples of 8"
    # the folded normalisation is mmseg's data preprocessor: BGR 0..255 in, normalised RGB out
    img = torch.randint(0, 256, (3, 32, 40), dtype=torch.uint8)
    from mmseg.structures import SegDataSample

    sample = SegDataSample(metainfo=dict(img_shape=(32, 40), ori_shape=(32, 40)))
    expected = model.data_preprocessor(dict(inputs=[img], data_samples=[sample]), False)["inputs"]
    assert torch.allclose(wrapper.normalization(img[None].float()), expected, atol=1e-6)
    _, checks = _export_and_compare(tmp_path, wrapper, family, 3, [(1, 64, 64), (2, 48, 80)], normalized=False)
    assert [c.output_shape for c in checks] == [(1, 64, 64), (2, 48, 80)]
    assert all(c.labels and c.max_abs_diff == 0 for c in checks), checks


def test_unet_valid_mmseg_config(tmp_path):
    wrapper, sf, family, _ = _config_wrapper(  # the paper's net at base width 4 (config: 64)
        "configs/unet/unet_valid_isbi2012.py",
        [
            "model.backbone.base_channels=4",
            "model.decode_head.base_channels=4",
            "model.decode_head.in_channels=[4,8,16,32,64]",
        ],
    )
    assert sf.output_border == 92 and family.sizes.describe().startswith("188 + 16k")
    assert sf.input_order == "L"  # one grey channel, Pillow's and detectron2's name
    _, checks = _export_and_compare(tmp_path, wrapper, family, 1, [(1, 188, 188), (2, 204, 220)])
    assert [c.output_shape for c in checks] == [(1, 2, 4, 4), (2, 2, 20, 36)]  # input - 2 * 92
    assert _meaningful(checks), checks


def test_unet_same_detectron2_yaml(tmp_path):
    wrapper, sf, family, _ = _config_wrapper("configs/detectron2/unet_synthetic.yaml")
    assert sf.input_order == "RGB" and not sf.reverse_channels
    _, checks = _export_and_compare(tmp_path, wrapper, family, 3, [(1, 64, 64), (2, 40, 56)])
    assert [c.output_shape for c in checks] == [(1, 6, 64, 64), (2, 6, 40, 56)]
    assert _meaningful(checks), checks


@pytest.mark.parametrize(
    "config", ["configs/segnet/segnet_basic_synthetic.py", "configs/detectron2/segnet_basic_synthetic.py"]
)
def test_segnet_basic_configs(tmp_path, config):
    # odd sizes: ceil-mode pools and unpooling to the recorded pre-pool sizes (45 -> 23 -> 45)
    wrapper, _, family, model = _config_wrapper(config)
    assert family.name == "SegNet-Basic"
    sizes, seed = [(1, 64, 64), (2, 45, 61)], 8
    # well-posed comparison: no pooling window of these inputs is an fp32 near-tie (seeds 1 and 3,
    # for one, give gaps of 3e-6 and 7e-6, where either runtime may take either argmax)
    assert (
        min(
            min_pool_gap(wrapper, random_images((n, 3, h, w), True, seed=seed + i)) for i, (n, h, w) in enumerate(sizes)
        )
        > 1e-5
    )
    _, checks = _export_and_compare(tmp_path, wrapper, family, 3, sizes, seed=seed)
    assert [c.output_shape for c in checks] == [(1, 6, 64, 64), (2, 6, 45, 61)]
    assert _meaningful(checks), checks


def test_segnet_vgg16_config(tmp_path):
    widths = "[4,4,8,8,8]"
    wrapper, _, family, model = _config_wrapper(
        "configs/segnet/segnet_vgg16_camvid.py",
        [
            f"model.backbone.widths={widths}",
            f"model.decode_head.widths={widths}",
            "model.decode_head.in_channels=8",
            "model.decode_head.channels=4",
        ],
    )
    assert family.name == "SegNet"
    sizes = [(1, 64, 64), (2, 45, 61)]
    assert (
        min(min_pool_gap(wrapper, random_images((n, 3, h, w), True, seed=i)) for i, (n, h, w) in enumerate(sizes))
        > 1e-5
    )  # see min_pool_gap
    _, checks = _export_and_compare(tmp_path, wrapper, family, 3, sizes)
    assert [c.output_shape for c in checks] == [(1, 11, 64, 64), (2, 11, 45, 61)]
    assert _meaningful(checks), checks


def test_setr_pup_config(tmp_path):
    # 128x128 is the position-embedding grid (no resize in PyTorch, an identity resize in the
    # graph); 80x200 resizes it to 5x13 (bicubic)
    wrapper, _, family, _ = _config_wrapper("configs/setr/setr_pup_vit-tiny_synthetic.py")
    assert family.name == "SETR-PUP"
    _, checks = _export_and_compare(tmp_path, wrapper, family, 3, [(1, 128, 128), (2, 80, 200)])
    assert [c.output_shape for c in checks] == [(1, 6, 128, 128), (2, 6, 80, 200)]
    assert _meaningful(checks), checks


@pytest.mark.parametrize("decoder", ["naive", "mla"])
def test_setr_naive_mla(tmp_path, decoder):
    from segclassics.deploy.wrapper import ExportWrapper

    model = build_setr(
        decoder,
        "vit_base_patch16",
        5,
        img_size=64,
        channels=16,
        with_aux=False,
        vit_kwargs=dict(embed_dim=32, depth=4, num_heads=2),
    )
    _randomise(model)
    family = find_family(model, "test")
    assert family.name == f"SETR-{decoder.capitalize() if decoder == 'naive' else 'MLA'}"
    _, checks = _export_and_compare(tmp_path, ExportWrapper(model.eval()), family, 3, [(1, 64, 64), (2, 50, 37)])
    assert [c.output_shape for c in checks] == [(1, 5, 64, 64), (2, 5, 50, 37)]
    assert _meaningful(checks), checks


def _tiny_vit():
    from segclassics.models.vit import VisionTransformer

    return VisionTransformer(img_size=32, patch_size=16, embed_dim=32, depth=2, num_heads=2, out_indices=[1])


def test_families_are_what_the_models_say_not_their_shapes():
    """The family comes from the models' identity attributes (``SegNetEncoder.arch``, the SETR heads'
    ``decoder``), not from kernel sizes or upsampling factors: a SegNet-Basic with 3x3 kernels is
    SegNet-Basic, a Naive head with PUP's 3x3 convs and 2x steps is Naive, and an MLA model whose
    auxiliary heads are Naive classifiers (as mmseg builds them) is MLA."""
    from segclassics.models.segnet import SegNetBasic
    from segclassics.models.setr_heads import SETRMLAHead, SETRUpHead

    basic = SegNetBasic(num_classes=3, num_stages=2, channels=4, kernel_size=3)
    assert basic.encoder.arch == "basic"
    family = find_family(basic, "x")
    assert (family.name, family.argmax_unpooling) == ("SegNet-Basic", True)
    naive = torch.nn.ModuleList(
        [_tiny_vit(), SETRUpHead(32, 8, 3, num_convs=2, kernel_size=3, up_scale=2, decoder="naive")]
    )
    assert (find_family(naive, "x").name, find_family(naive, "x").argmax_unpooling) == ("SETR-Naive", False)
    pup = torch.nn.ModuleList(
        [_tiny_vit(), SETRUpHead(32, 8, 3, num_convs=2, kernel_size=3, up_scale=2, decoder="pup")]
    )
    assert find_family(pup, "x").name == "SETR-PUP"
    mla = torch.nn.ModuleList([_tiny_vit(), SETRMLAHead(8, 4, 3, 4), SETRUpHead(8, 8, 3, num_convs=0)])
    assert find_family(mla, "x").name == "SETR-MLA"


def test_identity_attributes_are_not_in_the_state_dict():
    # published weights are read by their keys: the identity is a plain attribute, never a buffer
    from segclassics.models.segnet import SegNetBasic
    from segclassics.models.setr_heads import SETRUpHead

    basic = SegNetBasic(num_classes=3, num_stages=2, channels=4)
    assert not [k for k in basic.state_dict() if "arch" in k]
    head = SETRUpHead(8, 8, 3, decoder="pup")
    assert sorted(head.state_dict()) == sorted(SETRUpHead(8, 8, 3).state_dict())
    assert not [k for k in head.state_dict() if "decoder" in k]


def test_setr_heads_of_each_decoder_say_so():
    for decoder in ("naive", "pup", "mla"):
        model = build_setr(
            decoder, "vit_base_patch16", 3, img_size=32, channels=8, vit_kwargs=dict(embed_dim=32, depth=4, num_heads=2)
        )
        heads = [m for m in model.modules() if hasattr(m, "decoder") and isinstance(m.decoder, str)]
        assert len(heads) > 2 and {h.decoder for h in heads} == {decoder}, decoder  # main + aux heads
    with pytest.raises(ValueError, match="decoder must be one of"):
        from segclassics.models.setr_heads import SETRUpHead

        SETRUpHead(8, 8, 3, decoder="PUP")


# ----------------------------------------------------------------------------- the tool


def test_unsupported_model_message(capsys):
    from segclassics.deploy.cli import export_main

    config = "configs/mask_rcnn/mask-rcnn_r18_fpn_gn-scratch_isbi2012.py"
    assert export_main([config, "--out", "unused.onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        f"error: {config}: builds MaskRCNN, which the ONNX export does not cover; it exports "
        "FCN-32s/16s/8s, UNet (valid or same padding), SegNet, SegNet-Basic and SETR"
    ), err
    with pytest.raises(UnsupportedModelError):
        find_family(torch.nn.Conv2d(3, 3, 1), "x")


def test_invalid_size_refused_by_the_tool(capsys, tmp_path):
    from segclassics.deploy.cli import export_main

    out = tmp_path / "unet.onnx"
    assert export_main(["configs/unet/unet_valid_isbi2012.py", "--out", str(out), "--shape", "190", "188"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: input height 190 is not valid for UNet (valid padding, depth 5): it takes 188 + 16k (k >= 0): "
        "188, 204, 220, ... (an even map before each 2x2 max pool after the unpadded 3x3 convs); nearest valid "
        "heights: [188, 204]"
    )
    assert not out.exists()


@pytest.mark.slow
def test_export_tool_end_to_end(run_tool, tmp_path):
    out = tmp_path / "segnet.onnx"
    proc = run_tool(
        "export_onnx.py",
        "configs/segnet/segnet_basic_synthetic.py",
        "--out",
        out,
        "--with-normalization",
        "--verify-sizes",
        "64x64",
        "45x61",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"exported SegNet-Basic (configs/segnet/segnet_basic_synthetic.py) to {out} (opset 18)"
    verify = [ln for ln in lines if ln.startswith("  verify ")]
    assert [ln.split(":")[0] for ln in verify] == ["  verify 1x3x64x64", "  verify 2x3x45x61"]
    assert all(ln.endswith("ok)") for ln in verify), verify
    meta = read_metadata(str(out))
    assert meta["model"] == "SegNet-Basic" and meta["valid_sizes"] == "any size >= 1"
    assert meta["input_order"] == "BGR"
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [d for d in sess.get_inputs()[0].shape][1] == 3
    assert all(isinstance(d, str) for i, d in enumerate(sess.get_inputs()[0].shape) if i != 1)
    assert np.isfinite(sess.run(None, {"image": np.full((1, 3, 33, 35), 128, np.float32)})[0]).all()


def test_mask_rcnn_detectron2_tracing_export(tmp_path):
    # detectron2's own tracing export; a score threshold at the median score makes the number
    # of detections depend on the image, the data-dependent path of the graph
    from segclassics.deploy.cli import build
    from segclassics.deploy.verify import compare_detections
    from segclassics.detectron2.onnx_export import export_mask_rcnn, tracing_adapter

    torch.manual_seed(0)  # the initial weights: a deterministic test
    _, model, family = build("configs/detectron2/mask_rcnn_R_18_FPN_isbi2012.py", None, (), False, instances=True)
    assert family is None
    image = random_images((3, 128, 160), normalized=False)
    _, names = tracing_adapter(model, image)
    assert names == ["boxes", "classes", "masks", "scores", "image_size"]
    with torch.no_grad():
        scores = model.inference([{"image": image}], do_postprocess=False)[0].scores.sort().values
    # the threshold sits in the widest gap between neighbouring scores of the middle half, not on a
    # score: a score within fp32 rounding of it could fall on either side in the two runtimes
    middle = range(len(scores) // 4, 3 * len(scores) // 4)
    i = max(middle, key=lambda k: float(scores[k + 1] - scores[k]))
    model.roi_heads.box_predictor.test_score_thresh = float(scores[i] + scores[i + 1]) / 2
    adapter, names = export_mask_rcnn(model, str(tmp_path / "mrcnn.onnx"), image)
    checks = compare_detections(
        str(tmp_path / "mrcnn.onnx"), adapter, names, [image, random_images((3, 97, 201), normalized=False, seed=1)]
    )
    assert all(c.passed() for c in checks), checks
    assert 0 < checks[0].torch_detections < len(scores), checks
    # boxes: pixel coordinates below 256, where an fp32 ulp is <= 3e-5
    assert all(c.max_abs_diff["boxes"] <= TOLERANCE for c in checks if c.torch_detections), checks


@pytest.mark.slow
def test_segnet_basic_camvid_verifies_on_tie_free_inputs(tmp_path, capsys, monkeypatch, repo_root):
    """The real CamVid SegNet-Basic config exports at 360x480 and verifies, by default, on the sizes
    where inputs without near-tied pooling windows exist (at 360x480 there are none: the smallest
    gap over millions of windows is ~1e-7)."""
    from segclassics.deploy.cli import export_main

    monkeypatch.chdir(repo_root)
    out = tmp_path / "segnet_basic.onnx"
    assert export_main(["configs/segnet/segnet_basic_camvid.py", "--out", str(out), "--shape", "360", "480"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  verify ")]
    assert [line.split(":")[0] for line in lines] == ["  verify 1x3x64x64", "  verify 2x3x45x61"]
    assert all(line.endswith("criterion 0.0001: ok)") for line in lines), lines
