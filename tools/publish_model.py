#!/usr/bin/env python
"""Write a checkpoint's weights + plain metadata as a weights-only file named with its SHA-256 prefix.

    python tools/publish_model.py IN OUT [--trust-checkpoint]    # OUT x.pth -> x-<sha256[:8]>.pth

See segclassics.engine.publish_cli (docs/inference.md).
"""

import sys

import _bootstrap  # noqa: F401
from segclassics.engine.publish_cli import publish_main

if __name__ == "__main__":
    sys.exit(publish_main())
