#!/usr/bin/env python
"""Export a semantic segmentation config to ONNX and check it in onnxruntime.

    python tools/export_onnx.py CONFIG [CHECKPOINT] --out model.onnx [--with-normalization]
        [--with-argmax] [--shape H W] [--verify-sizes HxW HxW] [--no-verify] [--opset 18]

FCN-32s/16s/8s, UNet (valid and same padding), SegNet, SegNet-Basic and SETR Naive/PUP/MLA from
mmseg and detectron2 configs; dynamic batch, height and width. See docs/inference.md
("Export to ONNX") and ``segclassics/deploy/cli.py``.
"""

import sys

import _bootstrap  # noqa: F401
from segclassics.deploy.cli import export_main

if __name__ == "__main__":
    sys.exit(export_main())
