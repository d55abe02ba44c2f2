"""SETR decoders (framework-free): shapes, paper parameter counts, exactness of the
classify-before-upsampling rewrite, official-checkpoint conversion, a short training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import setr_pup_vitl_param_count
from segclassics.models.setr_heads import SETR_AUX_LAYERS, SETRMLAHead, SETRMLANeck, SETRUpHead, build_setr
from segclassics.models.vit_convert import convert_official_setr, detect_format

TINY_VIT = dict(depth=4, embed_dim=32, num_heads=4)


def tiny(decoder, **kw):
    torch.manual_seed(0)
    return build_setr(decoder, "vit_base_patch16", num_classes=5, img_size=64, channels=16, vit_kwargs=TINY_VIT, **kw)


@pytest.mark.parametrize("decoder,main_stride,n_aux", [("naive", 16, 3), ("pup", 1, 4), ("mla", 4, 4)])
def test_decoder_shapes(decoder, main_stride, n_aux):
    m = tiny(decoder).eval()
    x = torch.randn(2, 3, 64, 96)
    feats = m.backbone(x)
    if m.neck is not None:
        feats = m.neck([feats[i] for i in m.decode_in])
        assert [tuple(f.shape) for f in feats] == [(2, 16, 4, 6)] * 4
        logits = m.decode_head(feats)
    else:
        logits = m.decode_head(feats[m.decode_in[0]])
    assert tuple(logits.shape) == (2, 5, 64 // main_stride, 96 // main_stride)
    assert tuple(m(x).shape) == (2, 5, 64, 96)
    m.train()
    out, aux = m(x)
    assert tuple(out.shape) == (2, 5, 64, 96) and len(aux) == n_aux
    assert all(tuple(a.shape) == (2, 5, 64, 96) for a in aux)


def test_aux_layers_follow_paper():
    """ViT-L: Naive Z10,15,20; PUP Z10,15,20,24; MLA Z6,12,18,24 (Sec. 4) -> 0-based out indices."""
    with torch.device("meta"):
        pup = build_setr("pup", num_classes=150)
        mla = build_setr("mla", num_classes=150)
        naive = build_setr("naive", num_classes=150)
    assert pup.backbone.out_indices == (9, 14, 19, 23)
    assert [pup.backbone.out_indices[i] for i in pup.aux_in] == [9, 14, 19, 23]
    assert [pup.backbone.out_indices[i] for i in pup.decode_in] == [23]
    assert mla.backbone.out_indices == (5, 11, 17, 23) and len(mla.aux_heads) == 4
    assert [naive.backbone.out_indices[i] for i in naive.aux_in] == [9, 14, 19]
    assert SETR_AUX_LAYERS["pup"] == (10, 15, 20, 24)


def test_setr_pup_vit_large_parameter_count():
    with torch.device("meta"):
        m = build_setr("pup", "vit_large_patch16", num_classes=150, img_size=512)
    n = sum(p.numel() for p in m.parameters())
    assert n == setr_pup_vitl_param_count()
    # the issue gives the paper's SETR-PUP (ViT-L) size as ~318 M
    assert abs(n / 318e6 - 1) < 0.01, n


def test_pup_classify_before_last_upsampling_is_exact():
    torch.manual_seed(0)
    head = SETRUpHead(8, 6, 3, num_convs=2, kernel_size=3, up_scale=2).double().eval()
    x = torch.randn(1, 8, 5, 7, dtype=torch.float64)
    # reference order (paper, mmseg): conv stage, up, conv stage, up, classifier
    y = F.layer_norm(x.permute(0, 2, 3, 1), (8,), head.norm.weight, head.norm.bias, 1e-6).permute(0, 3, 1, 2)
    for conv in head.convs:
        y = F.interpolate(conv(y), scale_factor=2, mode="bilinear", align_corners=False)
    ref = head.cls(y)
    torch.testing.assert_close(head(x), ref)


def test_mla_concat_classify_then_upsample_is_exact():
    torch.manual_seed(0)
    neck = SETRMLANeck([8] * 4, 6).double().eval()
    head = SETRMLAHead(6, 4, 3, 4).double().eval()
    xs = [torch.randn(1, 8, 3, 5, dtype=torch.float64) for _ in range(4)]
    feats = neck(xs)
    # reference: neck top-down sum written out, then per-stream up 4x, concat, classify
    ln = [
        F.layer_norm(x.permute(0, 2, 3, 1), (8,), n.weight, n.bias, 1e-6).permute(0, 3, 1, 2)
        for x, n in zip(xs, neck.norms)
    ]
    p = [proj(t) for proj, t in zip(neck.channel_proj, ln)]
    mids = [p[3], p[3] + p[2], p[3] + p[2] + p[1], p[3] + p[2] + p[1] + p[0]]
    ref_feats = [c(mm) for c, mm in zip(neck.feat_extract, mids)]
    for a, b in zip(feats, ref_feats):
        torch.testing.assert_close(a, b)
    ups = [
        F.interpolate(s(f), scale_factor=4, mode="bilinear", align_corners=False) for s, f in zip(head.streams, feats)
    ]
    torch.testing.assert_close(head(feats), head.cls(torch.cat(ups, 1)))


def test_bad_head_arguments():
    with pytest.raises(ValueError, match="kernel_size must be 1"):
        SETRUpHead(8, 8, 2, kernel_size=5)
    with pytest.raises(ValueError, match="decoder must be one of"):
        build_setr("fpn")
    with pytest.raises(ValueError, match="expects 4 maps"):
        SETRMLANeck([8] * 4, 4)([torch.zeros(1, 8, 2, 2)])


def test_official_setr_head_conversion_folds_conv_bias():
    """An official ``VisionTransformerUpHead`` (conv_i with bias + syncbn_fc_i) gives the same
    eval-mode output after conversion (bias folded into the BN running mean)."""
    torch.manual_seed(0)
    head = SETRUpHead(8, 6, 3, num_convs=2, kernel_size=3, up_scale=2).eval()
    for bn in (head.convs[0][1], head.convs[1][1]):
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
    sd = {}
    biases = [torch.randn(6), torch.randn(6)]
    for i, stage in enumerate(head.convs):
        sd[f"decode_head.conv_{i}.weight"] = stage[0].weight
        sd[f"decode_head.conv_{i}.bias"] = biases[i]
        for k, v in stage[1].state_dict().items():
            sd[f"decode_head.syncbn_fc_{i}.{k}"] = v
    sd["decode_head.conv_2.weight"], sd["decode_head.conv_2.bias"] = head.cls.weight, head.cls.bias
    sd["decode_head.norm.weight"], sd["decode_head.norm.bias"] = head.norm.weight, head.norm.bias
    sd["decode_head.conv_seg.weight"] = torch.zeros(3, 6, 1, 1)  # unused in the official code
    sd["backbone.blocks.0.norm1.weight"] = torch.ones(8)
    assert detect_format(sd) == "official"
    conv = convert_official_setr(sd)
    assert "backbone.blocks.0.norm1.weight" in conv
    ours = SETRUpHead(8, 6, 3, num_convs=2, kernel_size=3, up_scale=2).eval()
    ours.load_state_dict({k[len("decode_head.") :]: v for k, v in conv.items() if k.startswith("decode_head.")})
    x = torch.randn(1, 8, 4, 4)
    # reference: the official forward with biased convs
    y = F.layer_norm(x.permute(0, 2, 3, 1), (8,), head.norm.weight, head.norm.bias, 1e-6).permute(0, 3, 1, 2)
    for i, stage in enumerate(head.convs):
        y = F.conv2d(y, stage[0].weight, biases[i], padding=1)
        y = F.relu(stage[1](y))
        if i == 0:
            y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
    ref = F.interpolate(head.cls(y), scale_factor=2, mode="bilinear", align_corners=False)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("decoder", ["pup", "mla"])
def test_short_training_lowers_loss(decoder):
    """A few SGD steps on one tiny batch with the paper's loss (main + 0.4 x aux)."""
    m = tiny(decoder)
    m.train()
    g = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 3, (2, 4, 4), generator=g)  # a class per 8x8 block
    y = blocks.repeat_interleave(8, 1).repeat_interleave(8, 2)
    x = F.one_hot(y, 3).permute(0, 3, 1, 2).float() + 0.3 * torch.randn(2, 3, 32, 32, generator=g)
    opt = torch.optim.AdamW(m.parameters(), lr=5e-3)

    def loss_fn():
        out, aux = m(x)
        return F.cross_entropy(out, y) + 0.4 * sum(F.cross_entropy(a, y) for a in aux)

    first = loss_fn()
    for _ in range(20):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    assert loss_fn().item() < 0.75 * first.item()


def test_upsampling_past_the_32_bit_element_limit_splits_the_batch(monkeypatch):
    """CUDA's channels-last bilinear kernel refuses outputs of 2**31 elements or more (SETR's
    150-class 512x512 logits at batch 64 on an H200). Past that size the heads interpolate the batch
    in chunks: each image is interpolated on its own, so output and gradients are exactly those of
    one call. The limit is lowered here so that a small batch crosses it."""
    from segclassics.models import setr_heads

    torch.manual_seed(0)
    head = SETRUpHead(16, 8, num_classes=5, num_convs=2, kernel_size=3, up_scale=2).eval()
    x = torch.randn(5, 16, 6, 7).to(memory_format=torch.channels_last).requires_grad_()
    ref = head(x)
    (ref**2).sum().backward()
    ref_grad = x.grad.clone()
    x.grad = None

    calls = []
    real = F.interpolate
    monkeypatch.setattr(setr_heads.F, "interpolate", lambda t, **kw: calls.append(t.shape[0]) or real(t, **kw))
    monkeypatch.setattr(setr_heads, "MAX_INTERPOLATE_ELEMENTS", 2 * 5 * 24 * 28)  # 2 images of the logits
    out = head(x)
    (out**2).sum().backward()
    assert calls[-3:] == [2, 2, 1]  # the 5 images of the last (logit) upsampling, in chunks of 2
    assert torch.equal(out, ref)
    assert torch.equal(x.grad, ref_grad)
