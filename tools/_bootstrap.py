"""Make ``segclassics`` importable when tools/ run from a checkout that is not installed.

The one place a tool puts ``plugins/`` on ``sys.path``: a tool in tools/ runs ``import
_bootstrap``; one in a subfolder runs this file with ``runpy.run_path`` (so that tools/ itself,
whose ``test.py`` would shadow the standard library's ``test``, is never put on the path). Only
our own package is put on the path: these scripts never import the top-level ``tools`` package
that detectron2's wheel ships.
"""

import os
import sys

try:
    import segclassics  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugins"))
