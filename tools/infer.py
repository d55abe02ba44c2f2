#!/usr/bin/env python
"""Predict on images with a trained checkpoint of any segclassics config (mmseg, mmdet, detectron2).

    python tools/infer.py CONFIG CHECKPOINT INPUT... --out DIR [--device cpu|cuda] [--amp] [--batch N]
        [--score-thr T] [--cfg-options KEY=VALUE ...] [--trust-checkpoint]

Outputs and exit status: see segclassics.engine.infer_cli (docs/inference.md).
"""

import sys

import _bootstrap  # noqa: F401
from segclassics.engine.infer_cli import infer_main

if __name__ == "__main__":
    sys.exit(infer_main())
