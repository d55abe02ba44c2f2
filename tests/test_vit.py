"""ViT encoder: attention, shapes, position-embedding resizing, checkpoint conversion.

A minimal reference ViT with timm's parameter names and a written-out softmax attention is
defined here (timm is not installed); converted weights must give equal outputs.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import REPO
from segclassics.models.vit import (
    VIT_PRESETS,
    Attention,
    VisionTransformer,
    naive_attention,
    resize_pos_embed,
    vit_large_patch16,
)
from segclassics.models.vit_convert import convert_mmseg_vit, convert_timm_vit, convert_vit_checkpoint, detect_format
from segclassics.utils.checkpoint import CheckpointMismatchError, load_state_dict_checked

torch.manual_seed(0)


# ----------------------------------------------------------------------------- reference ViT
class RefBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(d, 3 * d)
        self.attn.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(d, 4 * d)
        self.mlp.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        B, N, C = x.shape
        h = self.norm1(x)
        qkv = self.attn.qkv(h)
        q, k, v = qkv.split(C, dim=-1)
        split = lambda t: t.reshape(B, N, self.heads, C // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        w = torch.exp((q @ k.transpose(-1, -2)) / math.sqrt(C // self.heads))
        a = (w / w.sum(-1, keepdim=True)) @ v
        x = x + self.attn.proj(a.transpose(1, 2).reshape(B, N, C))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class RefViT(nn.Module):
    """timm-keyed ViT with a cls token, final norm and a classifier head."""

    def __init__(self, img=32, p=8, d=32, depth=3, heads=4, classes=10):
        super().__init__()
        self.p, self.grid = p, img // p
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, d, p, p)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.grid**2, d) * 0.5)
        self.blocks = nn.ModuleList([RefBlock(d, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, classes)
        for prm in self.parameters():  # non-trivial LN/bias values
            if prm.ndim == 1:
                nn.init.normal_(prm, 0.1, 0.1) if prm.shape[0] else None

    def forward_all(self, x):
        x = self.patch_embed.proj(x)
        B, C, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        pos = self.pos_embed
        if (h, w) != (self.grid, self.grid):  # independent bicubic resize of the grid part
            g = pos[:, 1:].reshape(1, self.grid, self.grid, C).permute(0, 3, 1, 2)
            g = F.interpolate(g, size=(h, w), mode="bicubic", align_corners=False)
            pos = torch.cat([pos[:, :1], g.flatten(2).transpose(1, 2)], 1)
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], 1) + pos
        outs = []
        for blk in self.blocks:
            x = blk(x)
            outs.append(x)
        outs[-1] = self.norm(outs[-1])
        return [o[:, 1:].transpose(1, 2).reshape(B, C, h, w) for o in outs]


def timm_to_mmseg(sd):
    """mmseg's tools/model_converters/vit2mmseg.py mapping, written out independently."""
    out = {}
    for k, v in sd.items():
        if k.startswith("head"):
            continue
        if k.startswith("norm"):
            nk = k.replace("norm.", "ln1.")
        elif k.startswith("patch_embed"):
            nk = k.replace("proj", "projection")
        elif k.startswith("blocks"):
            if "norm" in k:
                nk = k.replace("norm", "ln")
            elif "mlp.fc1" in k:
                nk = k.replace("mlp.fc1", "ffn.layers.0.0")
            elif "mlp.fc2" in k:
                nk = k.replace("mlp.fc2", "ffn.layers.1")
            elif "attn.qkv" in k:
                nk = k.replace("attn.qkv.", "attn.attn.in_proj_")
            elif "attn.proj" in k:
                nk = k.replace("attn.proj", "attn.attn.out_proj")
            nk = nk.replace("blocks.", "layers.")
        else:
            nk = k
        out[nk] = v
    return out


def ours_like_ref(img=32, **kw):
    return VisionTransformer(
        img_size=img,
        patch_size=8,
        embed_dim=32,
        depth=3,
        num_heads=4,
        class_token=True,
        final_norm=True,
        out_indices=(0, 1, 2),
        **kw,
    )


# ----------------------------------------------------------------------------- attention
def test_sdpa_equals_naive_softmax_attention():
    q, k, v = (torch.randn(2, 3, 17, 8, dtype=torch.float64) for _ in range(3))
    ref = naive_attention(q, k, v)
    # fully independent reference: explicit loops over a single head
    s = q[0, 0] @ k[0, 0].T / math.sqrt(8)
    p = torch.exp(s - s.max(-1, keepdim=True).values)
    manual = (p / p.sum(-1, keepdim=True)) @ v[0, 0]
    torch.testing.assert_close(ref[0, 0], manual)
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v), ref)
    attn = Attention(32, 4).double().eval()
    x = torch.randn(2, 10, 32, dtype=torch.float64)
    fused = attn(x)
    attn.fused_attn = False
    torch.testing.assert_close(fused, attn(x))


# ----------------------------------------------------------------------------- shapes
def test_out_indices_shapes_and_views():
    vit = VisionTransformer(img_size=64, patch_size=16, embed_dim=32, depth=4, num_heads=2, out_indices=(1, -1))
    outs = vit(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 32, 4, 6)] * 2
    assert outs[0].is_contiguous(memory_format=torch.channels_last)  # a view of the tokens, no copy


def test_input_not_multiple_of_patch_is_padded_or_rejected():
    vit = VisionTransformer(img_size=32, patch_size=16, embed_dim=16, depth=1, num_heads=2)
    x = torch.randn(1, 3, 40, 50)
    (out,) = vit(x)
    assert tuple(out.shape) == (1, 16, 3, 4)  # ceil(40/16), ceil(50/16)
    padded = F.pad(x, (0, 14, 0, 8))  # bottom/right zero padding to 48x64
    torch.testing.assert_close(out, vit(padded)[0])
    strict = VisionTransformer(img_size=32, patch_size=16, embed_dim=16, depth=1, num_heads=2, pad_to_patch=False)
    with pytest.raises(ValueError, match="not a multiple of the patch size 16x16.*48x64"):
        strict(x)
    with pytest.raises(ValueError, match="3 input channels"):
        vit(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="out of range"):
        VisionTransformer(depth=2, out_indices=(5,))


def test_resize_pos_embed_bicubic():
    pos = torch.randn(1, 1 + 16, 8)
    assert resize_pos_embed(pos, (4, 4)) is pos
    new = resize_pos_embed(pos, (6, 8))
    assert new.shape == (1, 1 + 48, 8)
    torch.testing.assert_close(new[:, :1], pos[:, :1])
    g = pos[:, 1:].reshape(1, 4, 4, 8).permute(0, 3, 1, 2)
    ref = F.interpolate(g, size=(6, 8), mode="bicubic", align_corners=False).flatten(2).transpose(1, 2)
    torch.testing.assert_close(new[:, 1:], ref)
    const = torch.full((1, 9, 4), 0.3)
    torch.testing.assert_close(resize_pos_embed(const, (5, 7), num_prefix_tokens=0), torch.full((1, 35, 4), 0.3))
    with pytest.raises(ValueError, match="not a square"):
        resize_pos_embed(torch.randn(1, 1 + 12, 4), (4, 4))


# ----------------------------------------------------------------------------- conversion
@pytest.mark.parametrize("size", [32, 48])
def test_timm_weights_give_equal_outputs(size):
    ref = RefViT().eval()
    x = torch.randn(2, 3, size, size)
    ours = ours_like_ref(img=32).eval()
    load_state_dict_checked(ours, ref.state_dict(), convert=lambda sd: ours.checkpoint_filter_fn(convert_timm_vit(sd)))
    with torch.no_grad():
        for a, b in zip(ours(x), ref.forward_all(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_timm_weights_into_larger_grid_resize_pos_embed():
    """Pretrained at 32 (4x4 grid), fine-tuned at 48 (6x6): the checkpoint's pos_embed is resized."""
    ref = RefViT().eval()
    ours = ours_like_ref(img=48).eval()
    ours.load_pretrained(ref.state_dict())
    assert ours.pos_embed.shape == (1, 37, 32)
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[-1], ref.forward_all(x)[-1], rtol=1e-4, atol=1e-4)


def test_mmseg_weights_give_equal_outputs_and_drop_cls():
    ref = RefViT().eval()
    mm = timm_to_mmseg(ref.state_dict())
    assert "layers.0.attn.attn.in_proj_weight" in mm and detect_format(mm) == "mmseg"
    whole = {"backbone." + k: v for k, v in mm.items()}
    ours = ours_like_ref(img=32).eval()
    load_state_dict_checked(
        ours, whole, convert=lambda sd: ours.checkpoint_filter_fn(convert_vit_checkpoint(sd, backbone_only=True))
    )
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(ours(x), ref.forward_all(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # the same weights in a model without cls token / final norm (SETR-MLA's encoder): loads,
    # dropping cls_token, its position slot and norm.*
    no_cls = VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=3, num_heads=4)
    no_cls.load_pretrained(convert_mmseg_vit(mm))
    torch.testing.assert_close(no_cls.pos_embed, ref.pos_embed[:, 1:])


def test_bad_checkpoints_are_listed():
    ref = RefViT()
    sd = ref.state_dict()
    ours = ours_like_ref()
    bad = dict(sd)
    bad["blocks.0.attn.qkv_extra.weight"] = torch.zeros(1)
    del bad["blocks.2.mlp.fc2.bias"]
    with pytest.raises(CheckpointMismatchError) as e:
        ours.load_pretrained(bad)
    assert "blocks.0.attn.qkv_extra.weight" in str(e.value) and "blocks.2.mlp.fc2.bias" in str(e.value)
    wide = RefViT(d=64, heads=4)
    with pytest.raises(
        CheckpointMismatchError,
        match=re.escape("of another shape (cls_token (1, 1, 64) in the file vs (1, 1, 32) in the model"),
    ):
        ours.load_pretrained(wide.state_dict())
    with pytest.raises(ValueError, match="cannot tell the checkpoint format"):
        detect_format({"foo.weight": torch.zeros(1)})


# ----------------------------------------------------------------------------- training aids
def test_activation_checkpointing_gives_same_gradients():
    torch.manual_seed(1)
    a = VisionTransformer(img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=2, out_indices=(0, 1))
    b = VisionTransformer(
        img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=2, out_indices=(0, 1), with_cp=True
    )
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 32, 32)
    for m in (a, b):
        m.train()
        sum(o.square().mean() for o in m(x)).backward()
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=n)


def test_drop_path_only_in_training():
    vit = VisionTransformer(img_size=16, patch_size=8, embed_dim=8, depth=2, num_heads=2, drop_path_rate=0.5).eval()
    x = torch.randn(4, 3, 16, 16)
    torch.testing.assert_close(vit(x)[0], vit(x)[0])
    assert vit.blocks[-1].drop_path.drop_prob == 0.5 and isinstance(vit.blocks[0].drop_path, nn.Identity)
    # training: stochastic depth per sample (Huang et al. 2016) with timm's inverted scaling: each
    # sample's residual branch is dropped (0) or kept and scaled by 1 / keep, so its mean is unchanged
    dp = vit.blocks[-1].drop_path.train()
    torch.manual_seed(0)
    n, keep = 4000, 0.5
    y = dp(torch.ones(n, 3, 5))
    rows = y.flatten(1)
    assert torch.equal(rows.amin(1), rows.amax(1))  # one decision per sample
    assert set(rows[:, 0].unique().tolist()) == {0.0, 1 / keep}
    kept = int((rows[:, 0] > 0).sum())
    # Binomial(n, keep): 6 standard deviations (a false alarm once in ~5e8 runs)
    assert abs(kept - n * keep) <= 6 * math.sqrt(n * keep * (1 - keep)), kept


def test_vit_large_parameter_count_on_meta():
    """ViT-L/16 = 24 x (qkv + proj + 2 LN + MLP 4096) + patch embed + pos embed (ViT Table 1)."""
    with torch.device("meta"):
        vit = vit_large_patch16(img_size=512, class_token=True, final_norm=True)
    d, depth = 1024, 24
    block = (d * 3 * d + 3 * d) + (d * d + d) + 2 * (2 * d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    expected = depth * block + (16 * 16 * 3 * d + d) + d + (1 + 32 * 32) * d + 2 * d
    assert sum(p.numel() for p in vit.parameters()) == expected
    assert VIT_PRESETS["vit_large_patch16"]["num_heads"] == 16


@pytest.mark.slow
def test_convert_tool_timm_and_bad_keys(tmp_path, run_tool):
    ref = RefViT()
    torch.save(ref.state_dict(), tmp_path / "timm.pth")
    r = run_tool(
        "convert_weights/vit_timm.py",
        tmp_path / "timm.pth",
        tmp_path / "out.pth",
        "--img-size",
        "48",
        "--patch-size",
        "8",
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    sd = torch.load(tmp_path / "out.pth", weights_only=True)["state_dict"]  # our output is plain data
    assert sd["pos_embed"].shape == (1, 36, 32) and "cls_token" not in sd and "head.weight" not in sd
    ours = VisionTransformer(img_size=48, patch_size=8, embed_dim=32, depth=3, num_heads=4)
    load_state_dict_checked(ours, sd)  # loads with no conversion left to do
    # the bad case in-process (same code path, one interpreter start less)
    import importlib.util

    spec = importlib.util.spec_from_file_location("vit_timm_tool", REPO / "tools/convert_weights/vit_timm.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    bad = dict(ref.state_dict())
    bad["blocks.1.attn.extra"] = torch.zeros(2)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointMismatchError, match="blocks.1.attn.extra"):
        tool.main([str(tmp_path / "bad.pth"), str(tmp_path / "bad_out.pth"), "--patch-size", "8", "--img-size", "32"])
    assert not (tmp_path / "bad_out.pth").exists()
