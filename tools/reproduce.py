#!/usr/bin/env python
"""Reproduce a real-data result in one command: train (resuming an interrupted run), publish the
weights (fp16, sha256 in the name), evaluate them, draw the curve and write the model-zoo row.

    python tools/reproduce.py {drive,isbi,camvid} [--work-dir DIR] [--data-root ../shared/data]
        [--threads N] [--weights-dir DIR] [--amp] [--channels-last]

See segclassics.engine.reproduce and docs/model_zoo.md.
"""

import sys

import _bootstrap  # noqa: F401
from segclassics.engine.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
