"""Make ``segclassics`` importable when tools/ run from a checkout that is not installed.

Only our own package is put on the path: these scripts never import the top-level
``tools`` package that detectron2's wheel ships.
"""
import os
import sys

try:
    import segclassics  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugins"))
