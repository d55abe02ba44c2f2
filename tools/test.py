#!/usr/bin/env python
"""Evaluate a checkpoint with any segclassics config and print the metrics.

python tools/test.py CONFIG CHECKPOINT [--show-dir DIR] [--metrics-json FILE] [--out DIR] [--tta]
    [--cfg-options KEY=VALUE ...]
"""

import sys

import _bootstrap  # noqa: F401
from segclassics.engine.cli import test_main

if __name__ == "__main__":
    sys.exit(test_main())
