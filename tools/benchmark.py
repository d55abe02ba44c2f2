#!/usr/bin/env python
"""Benchmark one or two configs: params, FLOPs, inference/training images/s, peak memory.

    python tools/benchmark.py CONFIG [CONFIG2] --shape H W --batch B [--device cpu|cuda]
        [--amp bf16|fp16] [--iters N --warmup N] [--train/--no-train] [--json out.json]

Works for mmengine configs (mmseg / mmdet scope) and detectron2 configs (LazyConfig .py or
yaml). With two configs it prints a side-by-side table with the ratio 2nd / 1st. How each
number is measured: see ``segclassics/engine/benchmark.py``.
"""

import sys

import _bootstrap  # noqa: F401
from segclassics.engine.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
