"""Convert a torchvision ``vgg16`` / ``vgg16_bn`` checkpoint to segclassics' ``VGG16`` keys.

The classifier's fully connected layers become convolutions (FCN, CVPR 2015, Sec. 3.1):
``fc6`` (4096x25088 -> 4096x512x7x7), ``fc7`` (-> 4096x4096x1x1) and optionally the ImageNet
``fc8`` (-> 1000x4096x1x1). The result is checked against a freshly built ``VGG16`` with
``segclassics.utils.checkpoint.check_state_dict`` (a mismatch names the keys) and saved as
``{'state_dict': ..., 'meta': ...}``, loadable by mmseg's ``init_cfg=dict(type='Pretrained',
checkpoint=..., prefix=...)``/``load_from``, detectron2's ``train.init_checkpoint`` (with
``--prefix backbone.``) or ``load_state_dict_checked``.

Examples::

    # torchvision's ImageNet weights (download them yourself, e.g. on a machine with internet:
    #   python -c "import torchvision; torchvision.models.vgg16(weights='IMAGENET1K_V1')"
    # which stores ~/.cache/torch/hub/checkpoints/vgg16-397923af.pth)
    python -m segclassics.tools.convert_weights.vgg16_torchvision vgg16-397923af.pth pretrain/vgg16_fcn.pth
    python -m segclassics.tools.convert_weights.vgg16_torchvision vgg16_bn-6c64b313.pth pretrain/vgg16_bn.pth --no-fc
    # weights for a detectron2 model (keys under backbone.):
    python -m segclassics.tools.convert_weights.vgg16_torchvision vgg16-397923af.pth vgg16_d2.pth --prefix backbone.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from segclassics.models.vgg import VGG16, convert_torchvision_vgg16
from segclassics.utils.checkpoint import check_state_dict, read_state_dict, save_weights_only


def convert(src: str, dst: str, *, with_fc: bool = True, with_fc8: bool = False, prefix: str = "") -> dict:
    """Convert ``src`` to ``dst``; returns the converted (unprefixed-checked) state dict."""
    sd = read_state_dict(src)
    out = convert_torchvision_vgg16(sd, with_fc=with_fc, with_fc8=with_fc8)
    batch_norm = any(k.endswith("running_mean") for k in out)
    fc8 = out.get("fc8.weight")
    with torch.device("meta"):  # shapes only
        model = VGG16(
            norm="BN" if batch_norm else None, with_fc=with_fc, num_classes=None if fc8 is None else int(fc8.shape[0])
        )
    check_state_dict(model, out)  # raises CheckpointMismatchError naming the keys
    final = {prefix + k: v for k, v in out.items()}
    save_weights_only(
        dst,
        final,
        {"source": os.path.basename(src), "batch_norm": batch_norm, "converter": "segclassics vgg16_torchvision"},
    )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="torchvision vgg16 / vgg16_bn checkpoint (.pth)")
    parser.add_argument("dst", help="output checkpoint")
    parser.add_argument("--no-fc", action="store_true", help="drop fc6/fc7 (for VGG16(with_fc=False), e.g. SegNet)")
    parser.add_argument("--with-fc8", action="store_true", help="keep the 1000-class ImageNet classifier as fc8")
    parser.add_argument("--prefix", default="", help="prefix for every key, e.g. 'backbone.'")
    args = parser.parse_args(argv)
    out = convert(args.src, args.dst, with_fc=not args.no_fc, with_fc8=args.with_fc8, prefix=args.prefix)
    print(f"converted {len(out)} tensors -> {args.dst}")
    return 0


if __name__ == "__main__":  # an input error is one `error:` line (exit 2), Ctrl-C one line (exit 130)
    from segclassics.utils.reporting import run_reporting_user_errors

    sys.exit(run_reporting_user_errors(main))
