"""Convert ViT / SETR checkpoints from timm, mmseg and the official SETR release to our keys.

Our keys are those of the framework-free modules: the encoder
(:class:`~segclassics.models.vit.VisionTransformer`) has timm's ``patch_embed.proj``,
``cls_token``, ``pos_embed``, ``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``,
``norm``; a whole :class:`~segclassics.models.setr_heads.SETR` has ``backbone.*``, ``neck.*``
(MLA), ``decode_head.*`` and ``aux_heads.K.*``. The framework adapters put these under their
own prefixes: ``segclassics.mmseg.setr_checkpoint.setr_checkpoint_to_mmseg`` (``decode_head.module.``,
``auxiliary_head.K.module.``, ``neck.module.``) and
``segclassics.detectron2.setr_head.setr_checkpoint_to_detectron2`` (``backbone.net.``,
``sem_seg_head.module.``).

Sources:

* **timm** (``vit_large_patch16_384`` style): same keys; the classifier (``head.*``) is
  dropped and ``pos_embed`` resized by the model's ``checkpoint_filter_fn``.
* **mmseg** ``VisionTransformer`` (the inverse of mmseg's ``tools/model_converters/vit2mmseg.py``):
  ``patch_embed.projection`` -> ``patch_embed.proj``, ``layers.N.ln1/ln2`` -> ``blocks.N.norm1/norm2``,
  ``layers.N.attn.attn.in_proj_{weight,bias}`` -> ``blocks.N.attn.qkv.{weight,bias}``,
  ``attn.attn.out_proj`` -> ``attn.proj``, ``ffn.layers.0.0`` -> ``mlp.fc1``, ``ffn.layers.1`` ->
  ``mlp.fc2``, final ``ln1`` -> ``norm``; whole mmseg SETR models also map ``SETRUPHead``,
  ``SETRMLAHead``, ``MLANeck`` and ``FCNHead`` (MLA aux) parameters.
* **official SETR** (fudan-zvg/SETR, mmseg 0.x based): timm-keyed backbone under ``backbone.``;
  ``VisionTransformerUpHead`` heads (``norm``, ``conv_i`` + ``syncbn_fc_i``, last ``conv_i`` is
  the classifier). Its convs before BN carry a bias, which BN makes redundant: it is folded into
  the BN running mean (exact in eval; irrelevant with batch statistics). The unused
  ``conv_seg`` that mmseg 0.x's ``BaseDecodeHead`` created is dropped. The official MLA model
  (``VIT_MLA`` with the neck inside the backbone) is not supported: its keys are reported.

Every function returns a new dict; unknown keys are kept unchanged so that
:func:`segclassics.utils.checkpoint.check_state_dict` lists them instead of loading silently.
"""

from __future__ import annotations

import re
from typing import Dict, Mapping

import torch

__all__ = [
    "unwrap_state_dict",
    "convert_timm_vit",
    "convert_mmseg_vit",
    "convert_mmseg_setr",
    "convert_official_setr",
    "detect_format",
    "convert_vit_checkpoint",
]


def unwrap_state_dict(obj) -> Dict[str, torch.Tensor]:
    """Take the tensor dict out of ``{'state_dict': ...}`` / ``{'model': ...}`` wrappers and
    strip a DataParallel ``module.`` prefix."""
    for key in ("state_dict", "model", "module"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    sd = dict(obj)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def convert_timm_vit(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """timm ViT -> ours: identical names; the classifier is dropped later by
    :func:`segclassics.models.vit.checkpoint_filter_fn` (it knows the target model)."""
    return dict(unwrap_state_dict(state_dict))


_MMSEG_VIT_RULES = [
    (re.compile(r"^patch_embed\.projection\."), "patch_embed.proj."),
    (re.compile(r"^layers\.(\d+)\.ln1\."), r"blocks.\1.norm1."),
    (re.compile(r"^layers\.(\d+)\.ln2\."), r"blocks.\1.norm2."),
    (re.compile(r"^layers\.(\d+)\.attn\.attn\.in_proj_weight$"), r"blocks.\1.attn.qkv.weight"),
    (re.compile(r"^layers\.(\d+)\.attn\.attn\.in_proj_bias$"), r"blocks.\1.attn.qkv.bias"),
    (re.compile(r"^layers\.(\d+)\.attn\.attn\.out_proj\."), r"blocks.\1.attn.proj."),
    (re.compile(r"^layers\.(\d+)\.ffn\.layers\.0\.0\."), r"blocks.\1.mlp.fc1."),
    (re.compile(r"^layers\.(\d+)\.ffn\.layers\.1\."), r"blocks.\1.mlp.fc2."),
    (re.compile(r"^ln1\."), "norm."),
]


def _map_mmseg_vit_key(k: str) -> str:
    for pat, rep in _MMSEG_VIT_RULES:
        new, n = pat.subn(rep, k)
        if n:
            return new
    return k


def _zero_patch_bias(sd: Dict[str, torch.Tensor], prefix: str = "") -> Dict[str, torch.Tensor]:
    """mmseg's ViT has no patch-embedding bias by default (``patch_bias=False``): ours is then 0."""
    w = sd.get(prefix + "patch_embed.proj.weight")
    if w is not None and prefix + "patch_embed.proj.bias" not in sd:
        sd[prefix + "patch_embed.proj.bias"] = w.new_zeros(w.shape[0])
    return sd


def convert_mmseg_vit(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """mmseg ``VisionTransformer`` keys -> ours. A whole-model state dict (``backbone.`` prefix)
    is reduced to its backbone. A missing patch-embedding bias (mmseg's default
    ``patch_bias=False``) becomes zeros, which is the same function."""
    sd = unwrap_state_dict(state_dict)
    if any(k.startswith("backbone.") for k in sd):
        sd = {k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.")}
    return _zero_patch_bias({_map_mmseg_vit_key(k): v for k, v in sd.items()})


def _mmseg_head(prefix: str, sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """One mmseg SETR head / neck (keys without its prefix) -> our module's keys under ``prefix``."""
    keys = list(sd)
    is_mla_head = any(re.match(r"up_convs\.\d+\.1\.conv\.", k) for k in keys)
    out = {}
    for k, v in sd.items():
        m = re.match(r"up_convs\.(\d+)\.(\d+)\.(conv|bn)\.(.+)$", k)
        if m:
            i, j, kind, rest = m.groups()
            sub = "0" if kind == "conv" else "1"
            out[f"streams.{i}.{j}.{sub}.{rest}" if is_mla_head else f"convs.{i}.{sub}.{rest}"] = v
            continue
        m = re.match(r"mla\.(channel_proj|feat_extract)\.(\d+)\.(conv|bn)\.(.+)$", k)
        if m:
            name, i, kind, rest = m.groups()
            out[f"{name}.{i}.{'0' if kind == 'conv' else '1'}.{rest}"] = v
            continue
        m = re.match(r"norm\.(\d+)\.(.+)$", k)  # MLANeck's per-stream LayerNorms
        if m:
            out[f"norms.{m.group(1)}.{m.group(2)}"] = v
            continue
        if k.startswith("norm."):
            out[k] = v
        elif k.startswith("conv_seg."):
            out["cls." + k[len("conv_seg.") :]] = v
        else:
            out[k] = v  # unknown: reported by check_state_dict
    return {prefix + k: v for k, v in out.items()}


def _our_prefix(mm_prefix: str) -> str:
    """mmseg model prefix -> the :class:`SETR` module's: ``auxiliary_head.K.`` -> ``aux_heads.K.``
    (a single ``auxiliary_head.`` -> ``aux_heads.0.``); ``decode_head.`` and ``neck.`` stay."""
    m = re.match(r"auxiliary_head\.(\d+\.)?$", mm_prefix)
    return f"aux_heads.{(m.group(1) or '0.')}" if m else mm_prefix


def _split_heads(sd: Dict[str, torch.Tensor]):
    """Group head / neck keys by our module prefix: ``{prefix: {key without prefix: tensor}}``."""
    groups: Dict[str, Dict[str, torch.Tensor]] = {}
    for k, v in sd.items():
        m = re.match(r"^(decode_head\.|neck\.|auxiliary_head\.\d+\.|auxiliary_head\.)(.+)$", k)
        if m and not k.startswith("backbone."):
            groups.setdefault(_our_prefix(m.group(1)), {})[m.group(2)] = v
    return groups


def convert_mmseg_setr(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A whole mmseg SETR model (``SETRUPHead`` / ``SETRMLAHead`` / ``MLANeck`` / ``FCNHead``)
    -> the keys of our :class:`~segclassics.models.setr_heads.SETR` (see the module docstring)."""
    sd = unwrap_state_dict(state_dict)
    out = {
        "backbone." + _map_mmseg_vit_key(k[len("backbone.") :]): v for k, v in sd.items() if k.startswith("backbone.")
    }
    _zero_patch_bias(out, "backbone.")
    for prefix, sub in _split_heads(sd).items():
        out.update(_mmseg_head(prefix, sub))
    handled = set(k for k in sd if k.startswith(("backbone.", "decode_head.", "neck.", "auxiliary_head.")))
    out.update({k: v for k, v in sd.items() if k not in handled})
    return out


def _official_head(prefix: str, sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    convs = sorted({int(m.group(1)) for k in sd for m in [re.match(r"conv_(\d+)\.", k)] if m})
    out = {}
    if not convs:
        return {prefix + k: v for k, v in sd.items()}
    last = convs[-1]
    for k, v in sd.items():
        if k.startswith("conv_seg."):
            continue  # mmseg 0.x BaseDecodeHead's unused classifier
        m = re.match(r"conv_(\d+)\.(weight|bias)$", k)
        if m:
            i, what = int(m.group(1)), m.group(2)
            if i == last:
                out[f"cls.{what}"] = v
            elif what == "weight":
                out[f"convs.{i}.0.weight"] = v
            continue  # hidden conv biases are folded below
        m = re.match(r"syncbn_fc_(\d+)\.(.+)$", k)
        if m:
            i, rest = int(m.group(1)), m.group(2)
            if rest == "running_mean" and f"conv_{i}.bias" in sd:
                v = v - sd[f"conv_{i}.bias"].to(v.dtype)
            out[f"convs.{i}.1.{rest}"] = v
            continue
        out[k] = v  # norm.* (LayerNorm) as ours; anything else is reported by the key check
    return {prefix + k: v for k, v in out.items()}


def convert_official_setr(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """fudan-zvg/SETR Naive/PUP checkpoints -> the keys of our :class:`SETR` (see module docstring)."""
    sd = unwrap_state_dict(state_dict)
    out = {k: v for k, v in sd.items() if k.startswith("backbone.")}  # timm keys already
    for prefix, sub in _split_heads(sd).items():
        out.update(_official_head(prefix, sub))
    handled = set(k for k in sd if k.startswith(("backbone.", "decode_head.", "neck.", "auxiliary_head.")))
    out.update({k: v for k, v in sd.items() if k not in handled})
    return out


def detect_format(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Guess 'timm', 'mmseg' (mmseg ViT keys, with or without heads) or 'official'."""
    keys = list(unwrap_state_dict(state_dict))
    if any(".attn.attn.in_proj_weight" in k or k.startswith(("layers.", "backbone.layers.")) for k in keys):
        return "mmseg"
    if any(re.match(r"(decode_head|auxiliary_head\.\d+)\.(conv_\d+|syncbn_fc_\d+)\.", k) for k in keys):
        return "official"
    if any(k.startswith(("blocks.", "backbone.blocks.")) for k in keys):
        return "official" if any(k.startswith("backbone.") for k in keys) else "timm"
    raise ValueError(
        "cannot tell the checkpoint format: expected timm ViT keys ('blocks.N.attn.qkv...'), "
        "mmseg ViT keys ('layers.N.attn.attn.in_proj_weight') or official SETR keys "
        f"('backbone.blocks...', 'decode_head.conv_0'); first keys: {keys[:5]}"
    )


def convert_vit_checkpoint(
    state_dict: Mapping[str, torch.Tensor], fmt: str = "auto", backbone_only: bool = False
) -> Dict[str, torch.Tensor]:
    """Dispatch to the converter for ``fmt`` ('auto', 'timm', 'mmseg', 'official').

    With ``backbone_only`` the result holds only ViT keys without prefix (for loading into a
    bare :class:`VisionTransformer` / the ``pretrained`` of our backbones).
    """
    if fmt == "auto":
        fmt = detect_format(state_dict)
    if fmt == "timm":
        out = convert_timm_vit(state_dict)
        return out
    if fmt == "mmseg":
        out = convert_mmseg_vit(state_dict) if backbone_only else convert_mmseg_setr(state_dict)
    elif fmt == "official":
        out = convert_official_setr(state_dict)
    else:
        raise ValueError(f"fmt must be 'auto', 'timm', 'mmseg' or 'official', got {fmt!r}")
    if backbone_only and any(k.startswith("backbone.") for k in out):
        out = {k[len("backbone.") :]: v for k, v in out.items() if k.startswith("backbone.")}
    return out
