"""Convert ViT / SETR weights (timm, mmseg, official SETR) to segclassics' keys.

    # ImageNet-21k ViT-L/16 from timm (jx_vit_large_p16_384-b3be5167.pth) -> SETR encoder at 512x512
    python -m segclassics.tools.convert_weights.vit_timm jx_vit_large_p16_384-b3be5167.pth checkpoints/vit-l16_512.pth \
        --img-size 512
    # a whole mmseg SETR model (backbone + heads) -> our mmseg model, checked against a config
    python -m segclassics.tools.convert_weights.vit_timm setr_pup_mmseg.pth setr_pup_ours.pth --format mmseg \
        --img-size 512 --class-token --config configs/setr/setr_pup_vit-l_ade20k.py
    # ... or for our detectron2 SETR (SETRViTBackbone + SETRSemSegHead; train.init_checkpoint)
    python -m segclassics.tools.convert_weights.vit_timm setr_pup_mmseg.pth setr_pup_d2.pth --format mmseg \
        --img-size 512 --class-token --framework detectron2

Backbone weights (timm, or ``--backbone-only``) are fitted to the target encoder: classifier
dropped, cls token / final norm dropped unless ``--class-token`` / ``--final-norm``, position
embedding resized (bicubic) to ``img_size / patch``; then checked key by key against a freshly
built encoder of the inferred size. Whole models get the key prefixes of ``--framework`` (mmseg
``EncoderDecoder`` or detectron2 ``SemanticSegmentor``; ``torch``: the framework-free ``SETR``) and
are checked against ``--config`` (mmseg) when given.
Any mismatch is an error listing the keys (nothing is written). Note: the configs' ``pretrained``
also converts on the fly; this tool is for inspection and for ``load_from``.
"""

import argparse
import os
import re
import sys

import torch

from segclassics.models.vit import VisionTransformer, adapt_vit_state_dict
from segclassics.models.vit_convert import convert_vit_checkpoint, detect_format
from segclassics.utils.checkpoint import check_state_dict, read_state_dict, save_weights_only


def infer_vit(sd, img_size, patch, class_token, final_norm, prefix=""):
    """Build a VisionTransformer whose parameter shapes follow the checkpoint's."""
    dim = sd[prefix + "pos_embed"].shape[-1]
    depth = 1 + max(int(m.group(1)) for k in sd for m in [re.match(re.escape(prefix) + r"blocks\.(\d+)\.", k)] if m)
    hidden = sd[prefix + "blocks.0.mlp.fc1.weight"].shape[0]
    with torch.device("meta"):
        return VisionTransformer(
            img_size=img_size,
            patch_size=patch,
            embed_dim=dim,
            depth=depth,
            num_heads=1,
            mlp_ratio=hidden / dim,
            class_token=class_token,
            final_norm=final_norm,
            out_indices=(depth - 1,),
        )


def to_framework(sd, target):
    """Framework-free SETR keys -> the keys of our model in the ``target`` framework."""
    if target == "mmseg":
        from segclassics.mmseg.setr_checkpoint import setr_checkpoint_to_mmseg

        return setr_checkpoint_to_mmseg(sd)
    if target == "detectron2":
        from segclassics.detectron2.setr_head import setr_checkpoint_to_detectron2

        return setr_checkpoint_to_detectron2(sd)
    return sd


def convert(
    src,
    dst,
    fmt="auto",
    backbone_only=False,
    img_size=512,
    patch=16,
    class_token=False,
    final_norm=False,
    interpolate_mode="bicubic",
    config=None,
    target="mmseg",
):
    raw = read_state_dict(src)
    fmt = detect_format(raw) if fmt == "auto" else fmt
    backbone_only = backbone_only or fmt == "timm"
    sd = convert_vit_checkpoint(raw, fmt, backbone_only=backbone_only)
    prefix = "" if backbone_only else "backbone."
    grid = (img_size // patch, img_size // patch)
    sd = adapt_vit_state_dict(sd, grid, patch, class_token, final_norm, interpolate_mode, prefix=prefix)
    if backbone_only:
        check_state_dict(infer_vit(sd, img_size, patch, class_token, final_norm), sd)
    else:
        sd = to_framework(sd, target)
    if not backbone_only and config:
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmseg.registry import MODELS

        cfg = Config.fromfile(config)
        init_default_scope(cfg.get("default_scope", "mmseg"))
        with torch.device("meta"):
            model = MODELS.build(cfg.model)
        check_state_dict(model, sd)
    meta = {"source": os.path.basename(src), "format": fmt, "img_size": img_size, "backbone_only": backbone_only}
    # detectron2's checkpointer reads the weights from "model"
    save_weights_only(dst, sd, meta, key="model" if target == "detectron2" and not backbone_only else "state_dict")
    return sd, fmt


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--format", default="auto", choices=["auto", "timm", "mmseg", "official"])
    p.add_argument("--backbone-only", action="store_true", help="keep only the encoder (no backbone. prefix)")
    p.add_argument("--img-size", type=int, default=512, help="training crop: sets the position-embedding grid")
    p.add_argument("--patch-size", type=int, default=16)
    p.add_argument("--class-token", action="store_true")
    p.add_argument("--final-norm", action="store_true")
    p.add_argument("--interpolate-mode", default="bicubic")
    p.add_argument(
        "--framework",
        default="mmseg",
        choices=["mmseg", "detectron2", "torch"],
        help="key layout of a whole-model conversion (default mmseg)",
    )
    p.add_argument("--config", help="mmseg config of the target model, to check a whole-model conversion")
    a = p.parse_args(argv)
    sd, fmt = convert(
        a.src,
        a.dst,
        a.format,
        a.backbone_only,
        a.img_size,
        a.patch_size,
        a.class_token,
        a.final_norm,
        a.interpolate_mode,
        a.config,
        a.framework,
    )
    print(f"converted {a.src} ({fmt}) -> {a.dst}: {len(sd)} tensors")


if __name__ == "__main__":  # an input error is one `error:` line (exit 2), Ctrl-C one line (exit 130)
    from segclassics.utils.reporting import run_reporting_user_errors

    sys.exit(run_reporting_user_errors(main))
