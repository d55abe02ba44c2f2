#!/usr/bin/env python
"""onnxruntime vs PyTorch CPU latency of exported semantic segmentation configs.

    python tools/analysis/onnx_benchmark.py CONFIG [CONFIG ...] --shape H W [--batch 1] [--threads 2]
        [--iters 5] [--warmup 1] [--repeats 3] [--markdown table.md]

Each config is exported as ``tools/export_onnx.py`` does; PyTorch and onnxruntime steps are
interleaved and the table gives, per model, the range over repeats of the median latency, their
ratio and the max abs difference of the logits. See ``segclassics/deploy/benchmark.py``.
"""

import os
import runpy
import sys

# segclassics importable from a source checkout (tools/_bootstrap.py)
runpy.run_path(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bootstrap.py"))

from segclassics.deploy.benchmark import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
