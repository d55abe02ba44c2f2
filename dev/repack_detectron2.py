#!/usr/bin/env python
"""sal-detectron2 0.7.2 (upstream detectron2 0.7; its only wheel on PyPI is for CPython 3.10)
repacked as a pure-Python ``py3-none-any`` wheel, for any Python:

* ``detectron2/_C`` is dropped: it is compiled for Python 3.10, and segclassics runs without it
  (detectron2 falls back to torchvision's ops);
* the wheel's top-level ``tools`` package is dropped: installed, it would shadow the ``tools/``
  of a checkout.

    python dev/repack_detectron2.py DEST_DIR   # -> DEST_DIR/sal_detectron2-0.7.2-py3-none-any.whl

Used by ``scripts/setup_env.sh`` (the project's environment) and by
``dev/gpu_check/build_bundle.py`` (the GPU machine's bundle). Needs ``pip`` and ``wheel`` in the
running interpreter and the package index.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

REQUIREMENT = "sal-detectron2==0.7.2"
WHEEL_NAME = "sal_detectron2-0.7.2-py3-none-any.whl"


def _python_m(*args: str) -> None:
    subprocess.run([sys.executable, "-m", *args], check=True, stdout=subprocess.DEVNULL)


def _rewrite_lines(path: str, keep, append=()) -> None:
    with open(path) as f:
        lines = [line for line in f.read().splitlines() if line.strip() and keep(line)]
    with open(path, "w") as f:
        f.write("\n".join([*lines, *append]) + "\n")


def repack(dest_dir: str) -> str:
    """Download the cp310 wheel, repack it, move it into ``dest_dir``; returns its path."""
    with tempfile.TemporaryDirectory() as tmp:
        _python_m(
            "pip",
            "--disable-pip-version-check",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.10",
            "--platform",
            "manylinux2014_x86_64",
            "--platform",
            "manylinux_2_17_x86_64",
            REQUIREMENT,
            "-d",
            tmp,
        )
        (downloaded,) = glob.glob(os.path.join(tmp, "sal_detectron2-0.7.2-*.whl"))
        _python_m("wheel", "unpack", "-d", os.path.join(tmp, "unpacked"), downloaded)
        (tree,) = glob.glob(os.path.join(tmp, "unpacked", "*"))
        shutil.rmtree(os.path.join(tree, "tools"), ignore_errors=True)
        for extension in glob.glob(os.path.join(tree, "detectron2", "_C.*.so")):
            os.remove(extension)
        (info,) = glob.glob(os.path.join(tree, "*.dist-info"))
        _rewrite_lines(os.path.join(info, "WHEEL"), lambda line: not line.startswith("Tag:"), ["Tag: py3-none-any"])
        _rewrite_lines(os.path.join(info, "top_level.txt"), lambda line: line.strip() != "tools")
        os.makedirs(os.path.join(tmp, "packed"))
        _python_m("wheel", "pack", "-d", os.path.join(tmp, "packed"), tree)
        (packed,) = glob.glob(os.path.join(tmp, "packed", "*.whl"))
        if os.path.basename(packed) != WHEEL_NAME:
            raise RuntimeError(f"repacked wheel is {os.path.basename(packed)}, expected {WHEEL_NAME}")
        os.makedirs(dest_dir, exist_ok=True)
        return shutil.move(packed, os.path.join(dest_dir, WHEEL_NAME))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest_dir", metavar="DEST_DIR")
    print(repack(parser.parse_args(argv).dest_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
