"""SegNet / SegNet-Basic (plain torch): unpooling, odd sizes, parameter counts, weight loading."""

import pytest
import torch
import torch.nn.functional as F
import torchvision as tv

from segclassics.models.segnet import (
    PoolRecord,
    SegNet,
    SegNetBasic,
    SegNetDecoder,
    build_segnet_basic_encoder,
    max_pool_with_record,
    max_unpool,
    pool_records_from_dict,
    pool_records_to_dict,
)
from segclassics.models.vgg import vgg16_cfg

TINY = vgg16_cfg((4, 4, 8, 8, 8))  # VGG16 depth, narrow widths (CPU tests)


def test_unpooling_puts_each_max_back_at_its_argmax_paper_fig3():
    # SegNet Fig. 3: a 4x4 map pooled to 2x2 values a, b, c, d; unpooling writes each value at
    # the position it came from and zeros elsewhere.
    a, b, c, d = 9.0, 7.0, 5.0, 8.0
    x = torch.tensor([[1, a, 2, 0], [0, 3, b, 1], [c, 0, 1, 2], [4, 1, 3, d]]).view(1, 1, 4, 4)
    y, rec = max_pool_with_record(x)
    assert y.flatten().tolist() == [a, b, c, d]
    assert rec.size == (4, 4)
    up = max_unpool(y, rec)
    expected = torch.tensor([[0, a, 0, 0], [0, 0, b, 0], [c, 0, 0, 0], [0, 0, 0, d]]).view(1, 1, 4, 4)
    assert torch.equal(up, expected)


def test_unpooling_restores_odd_sizes_exactly():
    x = torch.randn(2, 3, 45, 61)
    for ceil in (True, False):
        y, rec = max_pool_with_record(x, ceil_mode=ceil)
        assert y.shape[-2:] == ((23, 31) if ceil else (22, 30))
        up = max_unpool(y, rec)
        assert up.shape == x.shape
        # every non-zero of the unpooled map is the input value at that position
        nz = up != 0
        assert torch.equal(up[nz], x[nz])


def test_unpooling_rejects_foreign_indices():
    y, rec = max_pool_with_record(torch.randn(1, 2, 8, 8))
    with pytest.raises(ValueError, match="mirrored encoder stage"):
        max_unpool(torch.randn(1, 3, 4, 4), rec)


@pytest.mark.parametrize("model_fn", [lambda: SegNetBasic(5, channels=8), lambda: SegNet(5, cfg=TINY)])
def test_output_size_equals_input_size_for_odd_sizes(model_fn):
    model = model_fn().eval()
    for h, w in ((360, 480), (45, 61), (37, 53)):
        if h * w > 50_000 and isinstance(model, SegNet):
            continue  # keep the 5-stage net cheap
        with torch.no_grad():
            out = model(torch.randn(1, 3, h, w))
        assert out.shape == (1, 5, h, w)


def test_segnet_360x480_pool_sizes_follow_caffe_ceil():
    enc = SegNet(11, cfg=TINY).encoder.eval()
    with torch.no_grad():
        _, recs = enc(torch.randn(1, 3, 360, 480))
    # pre-pool sizes: 360x480 halved with rounding up (Caffe pooling) at each of the 5 stages
    sizes, h, w = [], 360, 480
    for _ in range(5):
        sizes.append((h, w))
        h, w = -(-h // 2), -(-w // 2)
    assert [r.size for r in recs] == sizes
    assert tuple(recs[-1].indices.shape[-2:]) == (h, w)


def _conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def test_segnet_vgg16_parameter_count_from_the_architecture():
    # Encoder: VGG16's 13 3x3 convs (with bias) + BN (2 params per channel).
    enc = [
        (3, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 256),
        (256, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
    ]
    # Decoder (SegNet-Tutorial segnet_train.prototxt): conv5_3_D..conv1_2_D with BN, conv1_1_D = classifier.
    dec = [
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 256),
        (256, 256),
        (256, 256),
        (256, 128),
        (128, 128),
        (128, 64),
        (64, 64),
    ]
    n = 11
    expected = sum(_conv(i, o, 3) + 2 * o for i, o in enc + dec) + _conv(64, n, 3)
    got = sum(p.numel() for p in SegNet(n).parameters())
    assert got == expected
    assert abs(got / 1e6 - 29.5) < 0.1  # paper: 29.5M


def test_segnet_basic_parameter_count_from_the_paper_description():
    # 4 encoder + 4 decoder 7x7 convs of 64 channels without bias, BN after each, 1x1 classifier.
    n = 11
    expected = _conv(3, 64, 7, False) + 7 * _conv(64, 64, 7, False) + 8 * 2 * 64 + _conv(64, n, 1)
    assert sum(p.numel() for p in SegNetBasic(n).parameters()) == expected
    basic = SegNetBasic(n)
    assert not any(isinstance(m, torch.nn.ReLU) for m in basic.decoder.modules())  # no decoder ReLU


def test_batched_eval_matches_per_image():
    model = SegNetBasic(3, channels=8).eval()
    x = torch.randn(3, 3, 29, 35)
    with torch.no_grad():
        batched = model(x)
        single = torch.cat([model(x[i : i + 1]) for i in range(3)])
    assert torch.allclose(batched, single, atol=1e-5)


def test_autocast_bf16_keeps_indices_and_sizes():
    model = SegNetBasic(3, channels=8).eval()
    x = torch.randn(2, 3, 29, 35)
    with torch.no_grad():
        _, rec32 = model.encoder(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            feat, rec16 = model.encoder(x)
            out = model.decoder(feat, rec16)
    assert out.shape == (2, 3, 29, 35) and out.dtype == torch.bfloat16
    assert [r.size for r in rec16] == [r.size for r in rec32]
    assert all(r.indices.dtype == torch.int64 for r in rec16)


def test_pool_records_round_trip_through_tensor_dict():
    _, recs = build_segnet_basic_encoder(3, 3, 4, 3)(torch.randn(2, 3, 21, 17))
    d = pool_records_to_dict(recs)
    assert all(isinstance(v, torch.Tensor) for v in d.values())
    back = pool_records_from_dict(d, 3)
    assert [r.size for r in back] == [r.size for r in recs]
    assert all(torch.equal(a.indices, b.indices) for a, b in zip(back, recs))
    with pytest.raises(KeyError, match="pool3_size"):
        pool_records_from_dict({k: v for k, v in d.items() if k != "pool3_size"}, 3)


def test_decoder_checks_number_of_records():
    dec = SegNetDecoder(4, [[4], [4]], 2)
    rec = PoolRecord(torch.zeros(1, 4, 2, 2, dtype=torch.long), (4, 4))
    with pytest.raises(ValueError, match="2 stages but got 1"):
        dec(torch.randn(1, 4, 2, 2), [rec])


def test_encoder_loads_torchvision_vgg16_bn_weights():
    with torch.device("meta"):  # skip initialising the 120M-parameter classifier
        ref = tv.models.vgg16_bn(weights=None)
    ref.features.to_empty(device="cpu")
    torch.manual_seed(0)
    for m in ref.features.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.05)
            torch.nn.init.normal_(m.bias)
        elif isinstance(m, torch.nn.BatchNorm2d):
            for t in (m.weight, m.bias, m.running_mean):
                torch.nn.init.normal_(t, std=0.1)
            m.running_var.uniform_(0.5, 2)
            m.num_batches_tracked.zero_()
    ref.eval()
    model = SegNet(11)
    model.load_torchvision_vgg16_bn(ref.state_dict())
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        ours, _ = model.encoder(x)
        theirs = ref.features(x)  # floor pooling == ceil pooling for 64 = 2^6
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_bad_input_channels():
    with pytest.raises(ValueError, match=r"expects \(N, 3, H, W\)"):
        SegNetBasic(2, channels=4)(torch.randn(1, 1, 16, 16))


def test_short_training_lowers_the_loss():
    torch.manual_seed(0)
    model = SegNetBasic(3, channels=8, kernel_size=3)
    x = torch.randn(4, 3, 24, 32)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
