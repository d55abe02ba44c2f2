#!/usr/bin/env python
"""From a source checkout, the same command as

    python -m segclassics.tools.convert_weights.vgg16_torchvision

(the same ``main``; its ``--help`` says what it does)."""

import os
import runpy
import sys

# segclassics importable from a source checkout (tools/_bootstrap.py)
runpy.run_path(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bootstrap.py"))

from segclassics.tools.convert_weights.vgg16_torchvision import main  # noqa: E402

if __name__ == "__main__":  # an input error is one `error:` line (exit 2), Ctrl-C one line (exit 130)
    from segclassics.utils.reporting import run_reporting_user_errors

    sys.exit(run_reporting_user_errors(main))
