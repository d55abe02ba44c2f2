"""Vision Transformer encoder for SETR (plain torch, no framework import).

Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021 (Sec. 3.1, Eq. 1-4) and
Zheng et al., "Rethinking Semantic Segmentation from a Sequence-to-Sequence Perspective with
Transformers" (SETR), CVPR 2021, Sec. 3.1-3.2: the image is cut into 16x16 patches, each patch
is linearly projected, a learned position embedding is added and ``L_e`` pre-norm transformer
layers follow, with no downsampling: every layer's output is an (H/16 x W/16) x C sequence.

Written in the style of timm's ``vision_transformer.py`` and with timm's parameter names
(``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``blocks.N.{norm1,attn.qkv,attn.proj,
norm2,mlp.fc1,mlp.fc2}``, ``norm``), so timm / JAX ViT checkpoints load after a pure
position-embedding resize (:func:`checkpoint_filter_fn`).

Speed and memory, compared with mmseg's ``VisionTransformer`` (which goes through mmcv's
``MultiheadAttention`` -> ``nn.MultiheadAttention`` with separate in-projection bookkeeping,
``batch_first`` transposes and ``.contiguous()`` copies):

* one fused ``qkv`` linear and ``F.scaled_dot_product_attention`` (flash / memory-efficient
  kernels on GPU, never materialising the N x N attention matrix there);
* tokens stay ``(B, N, C)`` throughout; feature maps returned for ``out_indices`` are
  *views* ``(B, C, H/16, W/16)`` in channels-last memory layout (no copy);
* optional activation checkpointing per block (``torch.utils.checkpoint``, non-reentrant),
  trading ~1 extra forward for storing only block inputs;
* no cls token unless asked (SETR does not use it for segmentation; with it, it is kept
  only as a sequence element and dropped before reshaping).

Inputs whose height/width are not multiples of the patch size are zero-padded at the
bottom/right to the next multiple (``pad_to_patch=True``, the behaviour of mmseg's
``PatchEmbed(padding='corner')``), so the maps are ``ceil(H/16) x ceil(W/16)``; with
``pad_to_patch=False`` such inputs raise a ``ValueError``.
"""

from __future__ import annotations

import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .size import pair

__all__ = [
    "VisionTransformer",
    "Attention",
    "Block",
    "Mlp",
    "PatchEmbed",
    "DropPath",
    "resize_pos_embed",
    "checkpoint_filter_fn",
    "adapt_vit_state_dict",
    "vit_base_patch16",
    "vit_large_patch16",
    "VIT_PRESETS",
    "naive_attention",
]


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Stochastic depth per sample (Huang et al. 2016), as timm's ``drop_path``."""
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = x.new_empty(shape).bernoulli_(keep)
    return x * mask.div_(keep)


class DropPath(nn.Module):
    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v, written out (the reference SDPA must equal)."""
    attn = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    return attn.softmax(dim=-1) @ v


def rename_in_chans(kwargs: dict, owner: str) -> dict:
    """``kwargs`` with timm's ``in_chans`` renamed to our ``in_channels`` (a ``DeprecationWarning``
    names ``owner``); giving both is a ``ValueError``. For configs written with the old name."""
    if "in_chans" not in kwargs:
        return kwargs
    kwargs = dict(kwargs)
    if kwargs.get("in_channels") is not None:
        raise ValueError(f"{owner}: give in_channels only (in_chans is its deprecated name), not both")
    kwargs["in_channels"] = kwargs.pop("in_chans")
    warnings.warn(f"{owner}: in_chans is deprecated; write in_channels", DeprecationWarning, stacklevel=3)
    return kwargs


class PatchEmbed(nn.Module):
    """Image (B, in_channels, H, W) -> tokens (B, H/p * W/p, C) by a p x p, stride p convolution
    (the linear projection of flattened patches, ViT Eq. 1)."""

    def __init__(self, patch_size: int = 16, in_channels: int = 3, embed_dim: int = 768, pad_to_patch: bool = True):
        super().__init__()
        self.patch_size = pair(patch_size, "patch_size")
        self.pad_to_patch = pad_to_patch
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        if x.ndim != 4:
            raise ValueError(f"PatchEmbed expects (B, C, H, W) images, got shape {tuple(x.shape)}")
        if x.shape[1] != self.proj.in_channels:
            raise ValueError(
                f"PatchEmbed expects {self.proj.in_channels} input channels, got {x.shape[1]} (shape {tuple(x.shape)})"
            )
        ph, pw = self.patch_size
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % ph, (-w) % pw
        # while exporting/tracing, pad always (by a symbolic amount, maybe 0) so one graph serves every size
        if (self.pad_to_patch and _recording_graph()) or pad_h or pad_w:
            if not self.pad_to_patch:
                raise ValueError(
                    f"input size {h}x{w} is not a multiple of the patch size {ph}x{pw}; resize or pad "
                    f"the input to {h + pad_h}x{w + pad_w}, or build the ViT with pad_to_patch=True "
                    f"(zero-pads bottom/right)"
                )
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.proj(x)
        hw = (x.shape[-2], x.shape[-1])
        # contiguous (B, N, C): otherwise every residual add inherits the transposed layout
        return x.flatten(2).transpose(1, 2).contiguous(), hw


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection and SDPA."""

    def __init__(
        self, dim: int, num_heads: int = 8, qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.fused_attn = True  # False: explicit softmax attention (for tests / debugging)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if self.fused_attn:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        else:
            attn = (q @ k.transpose(-2, -1)) * (self.head_dim**-0.5)
            attn = attn.softmax(dim=-1)
            if self.training and self.attn_drop:
                attn = F.dropout(attn, self.attn_drop)
            x = attn @ v
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


class Mlp(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer layer (ViT Eq. 2-3): x + MSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, proj_drop)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), proj_drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def _recording_graph() -> bool:
    """True while ``torch.export`` or ``torch.jit.trace`` records the forward: sizes are then symbolic
    (traced), and size-dependent branches must take the path that serves every size."""
    return torch.compiler.is_exporting() or torch.jit.is_tracing()


def resize_pos_embed(
    pos_embed: torch.Tensor,
    new_size: Sequence[int],
    old_size: Optional[Sequence[int]] = None,
    num_prefix_tokens: int = 1,
    mode: str = "bicubic",
) -> torch.Tensor:
    """Resize a learned position embedding ``(1, prefix + h*w, C)`` to a ``new_size`` grid.

    The grid part is interpolated (bicubic by default, as timm; ``align_corners=False``);
    the prefix (cls token) part is kept. ``old_size`` defaults to the square root of the grid
    length; a non-square grid needs it explicitly.
    """
    if pos_embed.ndim != 3:
        raise ValueError(f"pos_embed must be (1, L, C), got shape {tuple(pos_embed.shape)}")
    # symbolic new_size while torch.export / torch.jit.trace record the graph: keep it (int() would
    # freeze it) and always resize, so the one graph serves every size
    exporting = _recording_graph()
    new_h, new_w = tuple(new_size) if exporting else pair(new_size, "new_size")
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    n = grid.shape[1]
    if old_size is None:
        side = int(math.isqrt(n))
        if side * side != n:
            raise ValueError(
                f"position embedding has {n} grid tokens (after {num_prefix_tokens} prefix "
                f"tokens), not a square; pass old_size=(h, w)"
            )
        old_size = (side, side)
    old_h, old_w = pair(old_size, "old_size")
    if old_h * old_w != n:
        raise ValueError(f"old_size {old_h}x{old_w} does not match {n} grid tokens in pos_embed")
    if not exporting and (old_h, old_w) == (new_h, new_w):
        return pos_embed
    dtype = grid.dtype
    grid = grid.reshape(1, old_h, old_w, -1).permute(0, 3, 1, 2).float()
    kw = {} if mode in ("nearest", "area") else {"align_corners": False}
    grid = F.interpolate(grid, size=(new_h, new_w), mode=mode, **kw)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_h * new_w, -1).to(dtype)
    return torch.cat([prefix, grid], dim=1)


class VisionTransformer(nn.Module):
    """ViT encoder returning SETR's multi-layer feature maps.

    Args:
        img_size: pretraining / training image size; sets the position-embedding grid
            (``img_size // patch_size``). Other input sizes work: the embedding is resized
            on the fly with ``interpolate_mode``.
        patch_size: 16 for SETR.
        in_channels: image channels (timm's ``in_chans``; the framework backbones still accept
            that name, with a ``DeprecationWarning``).
        embed_dim, depth, num_heads, mlp_ratio, qkv_bias: ViT size (ViT-L/16: 1024, 24, 16, 4).
        out_indices: 0-based layer indices whose outputs are returned (SETR's ``Z^l`` is
            ``out_indices = l - 1``). Negative indices count from the end.
        class_token: prepend a learned cls token (kept in the sequence, never in the maps).
        drop_rate, attn_drop_rate, drop_path_rate: dropout after pos embed / in blocks,
            attention dropout, stochastic depth (linearly increasing over depth).
        final_norm: apply the final ``norm`` to the last layer's output (timm's ``norm``);
            SETR's heads have their own input LayerNorm, so SETR configs use ``False``.
        interpolate_mode: ``'bicubic'`` (timm) or ``'bilinear'`` (mmseg's SETR configs).
        with_cp: activation checkpointing of every block in training.
        pad_to_patch: zero-pad inputs to a multiple of ``patch_size`` (else ValueError).
        norm_eps: LayerNorm epsilon (1e-6 as the JAX/timm ViT).

    Shapes: ``forward(x)`` with ``x`` ``(B, in_channels, H, W)`` returns a list, one tensor per
    ``out_indices`` entry, each ``(B, embed_dim, ceil(H/p), ceil(W/p))`` (a channels-last view).
    """

    def __init__(
        self,
        img_size: Union[int, Tuple[int, int]] = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        out_indices: Union[int, Sequence[int]] = (-1,),
        class_token: bool = False,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        final_norm: bool = False,
        interpolate_mode: str = "bicubic",
        with_cp: bool = False,
        pad_to_patch: bool = True,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        self.img_size = pair(img_size, "img_size")
        self.patch_size = int(patch_size)
        if self.img_size[0] % self.patch_size or self.img_size[1] % self.patch_size:
            raise ValueError(f"img_size {self.img_size} must be a multiple of patch_size {self.patch_size}")
        self.grid_size = (self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size)
        self.embed_dim = self.num_features = embed_dim
        self.depth = depth
        self.num_prefix_tokens = 1 if class_token else 0
        self.interpolate_mode = interpolate_mode
        self.with_cp = with_cp
        self.final_norm = final_norm
        if isinstance(out_indices, int):
            out_indices = (out_indices,)
        idx = []
        for i in out_indices:
            j = i + depth if i < 0 else i
            if not 0 <= j < depth:
                raise ValueError(
                    f"out_indices entry {i} is out of range for depth {depth} (0-based; -1 is the last layer)"
                )
            idx.append(j)
        self.out_indices = tuple(idx)

        self.patch_embed = PatchEmbed(patch_size, in_channels, embed_dim, pad_to_patch=pad_to_patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        num_pos = self.grid_size[0] * self.grid_size[1] + self.num_prefix_tokens
        self.pos_embed = nn.Parameter(torch.zeros(1, num_pos, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = [drop_path_rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]  # linear rule
        self.blocks = nn.ModuleList(
            [
                Block(embed_dim, num_heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate, dpr[i], norm_eps)
                for i in range(depth)
            ]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps) if final_norm else None
        self.init_weights()

    # -- init -------------------------------------------------------------------------------
    def init_weights(self) -> None:
        """timm's ViT init: trunc-normal(0.02) linears and pos embed, zero biases, unit LNs."""
        if self.pos_embed.is_meta:
            return
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # patch embedding: lecun-normal on the flattened patch (timm's jax init)
        w = self.patch_embed.proj.weight
        fan_in = w.shape[1] * w.shape[2] * w.shape[3]
        nn.init.trunc_normal_(w, std=math.sqrt(1.0 / fan_in))
        nn.init.zeros_(self.patch_embed.proj.bias)

    # -- forward ----------------------------------------------------------------------------
    def _pos_embed(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        pos = self.pos_embed
        if _recording_graph() or tuple(hw) != self.grid_size:  # one graph
            pos = resize_pos_embed(pos, hw, self.grid_size, self.num_prefix_tokens, self.interpolate_mode)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.pos_drop(x + pos.to(x.dtype))

    def _to_map(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        x = x[:, self.num_prefix_tokens :]
        B, _, C = x.shape
        return x.reshape(B, hw[0], hw[1], C).permute(0, 3, 1, 2)  # view, channels-last layout

    def forward_tokens(self, x: torch.Tensor) -> Tuple[List[torch.Tensor], Tuple[int, int]]:
        """Return the token sequences ``(B, prefix + h*w, C)`` at ``out_indices`` and ``(h, w)``."""
        x, hw = self.patch_embed(x)
        x = self._pos_embed(x, hw)
        feats = {}
        last = max(self.out_indices)
        for i, blk in enumerate(self.blocks):
            if self.with_cp and self.training and torch.is_grad_enabled():
                x = checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
            if i in self.out_indices:
                feats[i] = self.norm(x) if (self.norm is not None and i == self.depth - 1) else x
            if i == last:
                break  # later layers feed no output
        return [feats[i] for i in self.out_indices], hw

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        outs, hw = self.forward_tokens(x)
        return [self._to_map(o, hw) for o in outs]

    # -- checkpoints ------------------------------------------------------------------------
    def checkpoint_filter_fn(self, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Adapt a timm-keyed ViT state dict to this model (see :func:`checkpoint_filter_fn`)."""
        return checkpoint_filter_fn(state_dict, self)

    def load_pretrained(self, state_dict_or_path) -> "VisionTransformer":
        """Load a timm-keyed (already converted) state dict or file, checked key by key."""
        from ..utils.checkpoint import load_state_dict_checked

        return load_state_dict_checked(self, state_dict_or_path, convert=self.checkpoint_filter_fn)


# keys of timm ViT checkpoints that a segmentation encoder does not use
_CLASSIFIER_PREFIXES = ("head.", "head_dist.", "pre_logits.", "fc_norm.", "dist_token", "attn_pool.")


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: VisionTransformer) -> Dict[str, torch.Tensor]:
    """Fit a timm-keyed ViT state dict to ``model`` (timm's ``checkpoint_filter_fn`` idea);
    see :func:`adapt_vit_state_dict`."""
    return adapt_vit_state_dict(
        state_dict,
        grid_size=model.grid_size,
        patch_size=model.patch_size,
        class_token=model.cls_token is not None,
        final_norm=model.norm is not None,
        interpolate_mode=model.interpolate_mode,
    )


def adapt_vit_state_dict(
    state_dict: Dict[str, torch.Tensor],
    grid_size: Sequence[int],
    patch_size: int = 16,
    class_token: bool = False,
    final_norm: bool = False,
    interpolate_mode: str = "bicubic",
    prefix: str = "",
) -> Dict[str, torch.Tensor]:
    """Fit timm-keyed ViT weights (under ``prefix``) to a model with the given settings.

    * drops the classifier (``head.*``, ``pre_logits.*``, ``fc_norm.*``);
    * drops ``norm.*`` when the model has no final norm, ``cls_token`` (and its position
      slot) when the model has no cls token;
    * resizes ``pos_embed`` to ``grid_size`` (``interpolate_mode``, default bicubic);
    * un-flattens a linear patch embedding ``(C, 3*p*p)`` to a conv kernel.
    Keys outside ``prefix`` are passed through. Any other difference is left for
    :func:`segclassics.utils.checkpoint.check_state_dict` to report.
    """
    out = {}
    for k, v in state_dict.items():
        if k.startswith(prefix):
            name = k[len(prefix) :]
            if name.startswith(_CLASSIFIER_PREFIXES):
                continue
            if name.startswith("norm.") and not final_norm:
                continue
        out[k] = v
    drop_cls = prefix + "cls_token" in out and not class_token
    if drop_cls:
        del out[prefix + "cls_token"]
    w = out.get(prefix + "patch_embed.proj.weight")
    if w is not None and w.ndim == 2:
        out[prefix + "patch_embed.proj.weight"] = w.reshape(w.shape[0], -1, patch_size, patch_size)
    pos = out.get(prefix + "pos_embed")
    if pos is not None:
        n = pos.shape[1]
        side = math.isqrt(n)
        n_prefix = 0 if side * side == n else 1
        if n_prefix == 1 and math.isqrt(n - 1) ** 2 != n - 1:
            raise ValueError(
                f"pos_embed with {n} tokens is neither a square grid nor 1 + a square grid; cannot infer its layout"
            )
        if drop_cls and n_prefix:
            pos, n_prefix = pos[:, 1:], 0
        if n_prefix == 0 and class_token:
            raise ValueError(
                "checkpoint pos_embed has no cls-token slot but the model uses a cls token; "
                "build the model with class_token=False"
            )
        out[prefix + "pos_embed"] = resize_pos_embed(pos, grid_size, None, n_prefix, interpolate_mode)
    return out


VIT_PRESETS = {
    # name: (embed_dim, depth, num_heads, mlp_ratio) -- ViT paper Table 1
    "vit_base_patch16": dict(embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0, patch_size=16),
    "vit_large_patch16": dict(embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4.0, patch_size=16),
}


def vit_base_patch16(**kwargs) -> VisionTransformer:
    """ViT-B/16 (86M params in the classifier version; ViT paper Table 1)."""
    return VisionTransformer(**{**VIT_PRESETS["vit_base_patch16"], **kwargs})


def vit_large_patch16(**kwargs) -> VisionTransformer:
    """ViT-L/16: 24 layers, 1024 dims, 16 heads, MLP 4096 (ViT paper Table 1; SETR's T-Large)."""
    return VisionTransformer(**{**VIT_PRESETS["vit_large_patch16"], **kwargs})
