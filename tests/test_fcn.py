"""FCN-32s/16s/8s (plain torch): parameter count, reference crops, shapes, alignment, init.

Independent facts: the layer table of the paper's network (VGG16 configuration D + FCN score
and deconvolution layers) for the parameter count; the reference Caffe nets' crop offsets
(voc-fcn32s/16s/8s net.py: 19; 5, 27; 5, 9, 31); ``F.interpolate(align_corners=False)`` for the
bilinear filters; flip symmetry for pixel alignment.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import paper_param_count
from segclassics.models.fcn import FCN, MODES, VARIANTS, FCNDecoder, bilinear_kernel, count_parameters, fcn_crop_offsets
from segclassics.models.vgg import VGG16

TINY = dict(widths=(4, 4, 4, 4, 4), fc_channels=8)


def test_param_count_fcn8s_vgg16_21_classes():
    with torch.device("meta"):
        nets = {v: FCN(21, v) for v in VARIANTS}
    for v, net in nets.items():
        assert count_parameters(net) == paper_param_count(v), v
    # "about 134.5 M" for FCN-8s
    assert round(count_parameters(nets["8s"]) / 1e5) == 1345


def test_reference_crop_offsets():
    # voc-fcn32s: crop(upscore, data) offset 19; voc-fcn16s: score_pool4c 5, output 27;
    # voc-fcn8s: score_pool4c 5, score_pool3c 9, output 31.
    assert fcn_crop_offsets("32s") == {"output": 19}
    assert fcn_crop_offsets("16s") == {"score_pool4": 5, "output": 27}
    assert fcn_crop_offsets("8s") == {"score_pool4": 5, "score_pool3": 9, "output": 31}
    assert set(fcn_crop_offsets("8s", "padded").values()) == {0}
    # unpadded deconvolutions need a large conv1_1 padding: with 1 the output would start before the image
    with pytest.raises(ValueError, match="negative.*increase conv1_1_padding"):
        fcn_crop_offsets("32s", "caffe", conv1_1_padding=1)
    with pytest.raises(ValueError, match="variant must be one of"):
        fcn_crop_offsets("4s")


@pytest.mark.parametrize("mode", MODES)
def test_full_size_shapes_on_meta(mode):
    with torch.device("meta"):
        for v in VARIANTS:
            net = FCN(21, v, mode=mode).eval()
            for h, w in ((375, 500), (500, 500), (224, 224), (101, 77)):
                assert net(torch.empty(1, 3, h, w)).shape == (1, 21, h, w), (v, h, w)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_odd_and_tiny_sizes(mode, variant):
    torch.manual_seed(0)
    net = FCN(3, variant, mode=mode, **TINY).eval()
    for h, w in ((1, 1), (2, 5), (7, 31), (33, 63), (97, 50), (64, 64)):
        with torch.no_grad():
            assert net(torch.randn(2, 3, h, w)).shape == (2, 3, h, w)


def _symmetrise(net):
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.split(".")[-2].startswith("score"):
                p.normal_(0, 0.1)  # 1x1 layers: symmetric anyway; non-zero to make the test bite
            elif p.dim() == 4:
                p.copy_((p + p.flip(-1)) / 2)


@pytest.mark.parametrize("mode,width", [("caffe", 58), ("padded", 64)])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_output_is_pixel_aligned(mode, width, variant):
    """With left-right symmetric filters the network commutes with a horizontal flip iff every
    crop is centred: a one-pixel error in any offset breaks the symmetry. Widths are chosen
    so every pooling grid is symmetric (caffe: 58 + 2*100 - 2 = 256 = 8*32; padded: 64)."""
    torch.manual_seed(0)
    net = FCN(3, variant, mode=mode, **TINY).eval()
    _symmetrise(net)
    x = torch.randn(1, 3, 37, width)
    with torch.no_grad():
        y = net(x)
        y_flip = net(x.flip(-1)).flip(-1)
        torch.testing.assert_close(y, y_flip, atol=1e-6, rtol=1e-5)
        if mode == "caffe":
            net.decoder.offsets["output"] -= 1  # deliberately misaligned
            assert (net(x) - net(x.flip(-1)).flip(-1)).abs().max() > 1e-4


@pytest.mark.parametrize("factor", [2, 8, 16, 32])
def test_bilinear_kernel_is_bilinear_interpolation(factor):
    """ConvTranspose2d(2f, stride f, padding f/2) with the reference filter = F.interpolate(
    scale_factor=f, bilinear, align_corners=False) away from the border (where interpolate
    clamps and the transposed conv sees zeros); the unpadded Caffe layer is the same map
    shifted by f/2, which the crops absorb."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 5, 6, dtype=torch.float64)
    k = bilinear_kernel(3, 2 * factor).double()
    up = F.conv_transpose2d(x, k, stride=factor, padding=factor // 2)
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert up.shape == ref.shape
    torch.testing.assert_close(up[..., factor:-factor, factor:-factor], ref[..., factor:-factor, factor:-factor])
    caffe = F.conv_transpose2d(x, k, stride=factor)
    o = factor // 2
    torch.testing.assert_close(caffe[..., o : o + up.shape[-2], o : o + up.shape[-1]], up)
    # channel c only feeds channel c
    assert k[0, 1].abs().sum() == 0


def test_init_zero_scores_bilinear_deconvs_fixed_final():
    net = FCN(5, "8s", **TINY)
    d = net.decoder
    for name in ("score_fr", "score_pool4", "score_pool3"):
        assert getattr(d, name).weight.abs().sum() == 0 and getattr(d, name).bias.abs().sum() == 0
    for name, k in (("upscore2", 4), ("upscore_pool4", 4), ("upscore8", 16)):
        torch.testing.assert_close(getattr(d, name).weight.detach(), bilinear_kernel(5, k))
        assert getattr(d, name).bias is None
    assert d.upscore2.weight.requires_grad and not d.upscore8.weight.requires_grad
    # zero scores -> the net starts predicting all-zero logits
    assert net.eval()(torch.randn(1, 3, 20, 20)).abs().max() == 0
    assert FCN(5, "32s", learn_final_upsample=True, **TINY).decoder.upscore.weight.requires_grad
    # the released reference nets keep the 2x upsamplings fixed too (lr_mult: 0)
    frozen = FCN(5, "8s", learn_intermediate_upsample=False, **TINY).decoder
    assert not frozen.upscore2.weight.requires_grad and not frozen.upscore_pool4.weight.requires_grad


def test_at_once_scaling_equals_scaled_score_weights():
    torch.manual_seed(0)
    plain = FCN(4, "8s", **TINY).eval()
    atonce = FCN(4, "8s", at_once=True, **TINY).eval()
    atonce.load_state_dict(plain.state_dict())
    with torch.no_grad():
        for p in plain.decoder.parameters():
            p.normal_(0, 0.1)
        atonce.load_state_dict(plain.state_dict())
        plain.decoder.score_pool4.weight.mul_(0.01)
        plain.decoder.score_pool3.weight.mul_(0.0001)
        x = torch.randn(1, 3, 40, 30)
        torch.testing.assert_close(atonce(x), plain(x))


def test_geometry_mismatch_is_a_clear_error():
    backbone = VGG16(out_indices=("pool3", "pool4", "fc7"), fc6_padding=3, **TINY).eval()  # padding-1 conv1_1
    head = FCNDecoder(3, "8s", (4, 4, 8), mode="caffe")
    x = torch.randn(1, 3, 64, 64)
    with pytest.raises(ValueError, match="conv1_1_padding=100"):
        head(backbone(x), x.shape[-2:])
    with pytest.raises(ValueError, match="consumes 3 features"):
        FCNDecoder(3, "8s", (8,))
    with pytest.raises(ValueError, match="mode must be one of"):
        FCNDecoder(3, "8s", mode="same")


def test_one_sgd_step_learns_all_but_the_fixed_upsampling():
    torch.manual_seed(0)
    net = FCN(3, "8s", **TINY)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    x, y = torch.randn(2, 3, 40, 36), torch.randint(0, 3, (2, 40, 36))
    for _ in range(2):  # step 1 moves the (zero) score layers, step 2 reaches the backbone
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    after = net.state_dict()
    assert torch.equal(after["decoder.upscore8.weight"], before["decoder.upscore8.weight"])
    for key in (
        "decoder.score_fr.weight",
        "decoder.score_pool3.weight",
        "decoder.upscore2.weight",
        "backbone.conv1_1.weight",
    ):
        assert not torch.equal(after[key], before[key]), key


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_forward_without_size_is_top_left_aligned(mode, variant):
    """Without the input size (mmseg tensor mode, detectron2 inference) the decoder returns the
    logits of the largest input consistent with the features: the true output is its top-left
    corner and at most stride-1 rows/columns are extra."""
    torch.manual_seed(0)
    net = FCN(3, variant, mode=mode, **TINY).eval()
    with torch.no_grad():
        for p in net.decoder.parameters():
            p.normal_(0, 0.1)
        for h, w in ((1, 1), (30, 47), (64, 33)):
            x = torch.randn(1, 3, h, w)
            feats = net.backbone(x)
            full = net.decoder(feats)
            stride = {"32s": 32, "16s": 16, "8s": 8}[variant]
            assert h <= full.shape[-2] < h + stride and w <= full.shape[-1] < w + stride
            torch.testing.assert_close(full[..., :h, :w], net.decoder(feats, (h, w)))
