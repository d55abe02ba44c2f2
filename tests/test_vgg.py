"""VGG16 backbone (plain torch) and the torchvision converter.

Independent facts used: torchvision's own ``vgg16`` / ``vgg16_bn`` (random init, no download)
as the reference network; VGG paper Table 1 (configuration D) for layer shapes.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torchvision

from segclassics.models.vgg import (
    VGG16,
    VGG16_CFG,
    build_vgg_stages,
    convert_torchvision_vgg16,
    torchvision_vgg16_name_map,
)
from segclassics.utils.checkpoint import CheckpointMismatchError, load_state_dict_checked

TINY = dict(widths=(4, 8, 8, 8, 8), fc_channels=16)


def test_cfg_is_vgg16_configuration_d():
    # Table 1, column D: 13 conv layers, widths 64-128-256-512-512.
    convs = [c for stage in VGG16_CFG for c in stage]
    assert len(convs) == 13
    assert [len(s) for s in VGG16_CFG] == [2, 2, 3, 3, 3]
    with torch.device("meta"):
        tv = torchvision.models.vgg16()
    tv_convs = [m.out_channels for m in tv.features if isinstance(m, torch.nn.Conv2d)]
    assert convs == tv_convs


def test_build_vgg_stages_names_and_bn():
    stages = build_vgg_stages(norm="BN")
    assert list(stages[2]) == [
        "conv3_1",
        "bn3_1",
        "relu3_1",
        "conv3_2",
        "bn3_2",
        "relu3_2",
        "conv3_3",
        "bn3_3",
        "relu3_3",
    ]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for s in stages for m in s.values()) == 13


def test_param_count_matches_torchvision():
    with torch.device("meta"):  # shapes only: no 138 M-parameter initialisation
        ours = VGG16(num_classes=1000)
        tv = torchvision.models.vgg16()
        ours_bn = VGG16(num_classes=1000, norm="BN")
        tv_bn = torchvision.models.vgg16_bn()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in tv.parameters())
    assert sum(p.numel() for p in ours_bn.parameters()) == sum(p.numel() for p in tv_bn.parameters())


def test_feature_shapes_and_geometry():
    m = VGG16(out_indices=("conv1_2", "pool3", "pool4", "conv5_3", "fc7"), fc6_padding=3, **TINY).eval()
    x = torch.randn(1, 3, 75, 101)
    outs = m(x)
    shapes = [tuple(o.shape) for o in outs]
    # ceil-mode pools: ceil(75/8)=10, ceil(101/8)=13; /16: 5, 7; conv5_3 is pool4-sized.
    assert shapes == [(1, 4, 75, 101), (1, 8, 10, 13), (1, 8, 5, 7), (1, 8, 5, 7), (1, 16, 3, 4)]
    for name, o in zip(m.out_names, outs):
        assert (m.feature_size(name, 75), m.feature_size(name, 101)) == tuple(o.shape[-2:])
    assert m.strides["pool3"] == 8 and m.strides["fc7"] == 32 and m.channels["fc7"] == 16


def test_out_indices_int_and_errors():
    m = VGG16(out_indices=(2, 3, 5), **TINY)
    assert m.out_names == ("pool3", "pool4", "fc7")
    with pytest.raises(ValueError, match="unknown VGG16 feature 'fc7'.*with_fc=True"):
        VGG16(with_fc=False, out_indices=("fc7",))
    with pytest.raises(ValueError, match="out index 9"):
        VGG16(out_indices=(9,), **TINY)
    with pytest.raises(ValueError, match=r"expects \(N, 3, H, W\)"):
        m(torch.randn(3, 64, 64))


def test_too_small_input_is_a_clear_error():
    m = VGG16(**TINY)
    with pytest.raises(ValueError, match="too small for VGG16's 7x7 fc6.*at least 193"):
        m(torch.randn(1, 3, 100, 120))
    # without fc layers anything >= 1 pixel works (ceil-mode pools)
    outs = VGG16(with_fc=False, **TINY)(torch.randn(1, 3, 1, 1))
    assert all(o.shape[-2:] == (1, 1) for o in outs)


def test_name_map_covers_torchvision():
    for bn, ctor in ((False, torchvision.models.vgg16), (True, torchvision.models.vgg16_bn)):
        with torch.device("meta"):
            tv = ctor()
        prefixes = {k.rsplit(".", 1)[0] for k in tv.state_dict()}
        assert prefixes == set(torchvision_vgg16_name_map(bn))


@torch.no_grad()
def test_converter_matches_torchvision_on_224_and_sliding_window():
    """Our convolutionized copy = torchvision's classifier on 224x224 (1e-4). On a larger
    image the fc8 score map at (i, j) equals torchvision's classifier applied to the 7x7 pool5
    window at (i, j) -- the sliding classifier FCN Sec. 3.1 / Fig. 2 turns into convolutions
    (the conv layers are shared; whole 224 crops of a big image differ only by zero padding)."""
    torch.manual_seed(0)
    tv = torchvision.models.vgg16().eval()
    ours = VGG16(num_classes=1000, out_indices=("pool5", "fc8")).eval()
    load_state_dict_checked(ours, tv.state_dict(), convert=lambda sd: convert_torchvision_vgg16(sd, with_fc8=True))
    x = torch.randn(1, 3, 224, 224)
    ref = tv(x)
    got = ours(x)[1]
    assert got.shape == (1, 1000, 1, 1)
    torch.testing.assert_close(got.flatten(1), ref, atol=1e-4, rtol=1e-4)

    big = torch.randn(1, 3, 288, 320)
    pool5, score = ours(big)
    torch.testing.assert_close(pool5, tv.features(big), atol=1e-5, rtol=1e-5)
    assert score.shape == (1, 1000, 3, 4)  # (288/32 - 6, 320/32 - 6)
    windows = torch.cat([pool5[..., i : i + 7, j : j + 7].flatten(1) for i in range(3) for j in range(4)])
    ref = tv.classifier(windows)
    torch.testing.assert_close(score.permute(0, 2, 3, 1).reshape(12, 1000), ref, atol=1e-4, rtol=1e-4)
    # the centre window is the classifier applied to the centre 7x7 of pool5
    torch.testing.assert_close(
        score[0, :, 1, 1], tv.classifier(pool5[..., 1:8, 1:8].flatten(1))[0], atol=1e-4, rtol=1e-4
    )


@torch.no_grad()
def test_converter_bn_variant():
    torch.manual_seed(0)
    tv = torchvision.models.vgg16_bn().eval()
    # non-trivial running statistics
    for m in tv.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ours = VGG16(norm="BN", with_fc=False, out_indices=("pool5",)).eval()
    load_state_dict_checked(ours, convert_torchvision_vgg16(tv.state_dict(), with_fc=False))
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(ours(x)[0], tv.features(x), atol=1e-4, rtol=1e-4)


def test_mismatch_names_the_keys():
    with torch.device("meta"):
        sd = convert_torchvision_vgg16(torchvision.models.vgg16().state_dict())
        model = VGG16()
    sd["conv3_2.weight"] = sd["conv3_2.weight"][:, :10]
    del sd["fc7.bias"]
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_checked(model, sd)
    assert "conv3_2.weight" in str(err.value) and "fc7.bias" in str(err.value)
    with pytest.raises(ValueError, match="not torchvision vgg16"):
        convert_torchvision_vgg16({"layer1.0.conv1.weight": torch.zeros(1)})


@pytest.mark.slow
def test_convert_tool(tmp_path, repo_root):
    src = tmp_path / "vgg16_bn.pth"
    # features only (59 MB instead of 528 MB) -> --no-fc
    torch.save({k: v for k, v in torchvision.models.vgg16_bn().state_dict().items() if k.startswith("features")}, src)
    dst = tmp_path / "out.pth"
    tool = str(repo_root / "tools/convert_weights/vgg16_torchvision.py")
    proc = subprocess.run(
        [sys.executable, tool, str(src), str(dst), "--no-fc", "--prefix", "backbone."], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    ckpt = torch.load(dst, weights_only=True)  # our output is plain data
    assert ckpt["meta"]["batch_norm"] is True
    assert ckpt["state_dict"]["backbone.conv5_3.weight"].shape == (512, 512, 3, 3)
    assert "backbone.bn5_3.running_var" in ckpt["state_dict"]
    # without --no-fc the missing classifier is an error naming the keys
    proc = subprocess.run([sys.executable, tool, str(src), str(tmp_path / "bad.pth")], capture_output=True, text=True)
    assert proc.returncode != 0 and "fc6.weight" in proc.stderr
