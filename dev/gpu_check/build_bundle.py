#!/usr/bin/env python
"""Build ``.gpu_bundle/``: what the GPU check needs and the GPU machine lacks, under its carry limit.

The GPU machine (Python 3.12, torch 2.11 + torchvision 0.26, CUDA 13, numpy 2, opencv, scipy,
matplotlib, ...; see docs/gpu.md) has no OpenMMLab or detectron2 packages and no network, and
only the repository travels to it (the data beside it, ``../shared``, does not). This script
writes, into the git-ignored ``.gpu_bundle/``:

* ``wheels/``: Python 3.12 wheels (pure Python or cp312 manylinux) of the packages in
  :data:`BINARY_WHEELS`, wheels built here from the pure-Python sdists in :data:`SDIST_WHEELS`,
  mmcv 2.1.0 built without compiled ops (``MMCV_WITH_OPS=0``) with ``mmcv/ops`` replaced by
  ``dev/gpu_check/mmcv_ops_shim`` (torchvision-backed NMS / RoIAlign), and sal-detectron2 0.7.2
  repacked as py3-none-any without its cp310 ``_C`` and its top-level ``tools`` package;
* ``data/``: the reproduction data in the ``../shared/data`` layout: CamVid ``images`` and
  ``labels`` (train 367 + val 101), ISBI 2012 ``images/train`` + ``labels/train`` (30 slices);
  unchanged bytes unless ``--camvid-scale`` < 1;
* ``manifest.json``: versions, file sizes, what was reduced, and the travelling size.

    .venv/bin/python dev/gpu_check/build_bundle.py [--data-root ../shared/data] [--camvid-scale 1.0]

Needs network (PyPI) and a Python with pip, ``wheel`` and a setuptools that still has
``pkg_resources`` (mmcv 2.1.0's setup.py imports it): the project's ``.venv`` has them.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIM = os.path.join(ROOT, "tools", "gpu_check", "mmcv_ops_shim", "__init__.py")
CARRY_LIMIT = 64 * 2**20  # tracked + untracked-not-ignored files + carried paths, per device call

# Wheels for CPython 3.12 on manylinux x86_64, pinned. Only what the GPU image lacks (its package
# list: docs/gpu.md); numpy, torch, torchvision, opencv, scipy, matplotlib, pillow, pyyaml, rich,
# regex, tabulate, tqdm, cloudpickle, portalocker, six, packaging come from the image.
BINARY_WHEELS = [
    "mmengine==0.10.7",
    "mmsegmentation==1.2.2",
    "mmdet==3.3.0",
    "addict==2.4.0",
    "yapf==0.43.0",
    "platformdirs==4.14.8",
    "termcolor==3.3.0",  # mmengine / mmcv
    "prettytable==3.18.0",
    "wcwidth==0.9.4",
    "ftfy==6.3.1",  # mmseg
    "pycocotools==2.0.11",
    "shapely==2.2.0",
    "terminaltables==3.1.10",  # mmdet
    "iopath==0.1.9",
    "yacs==0.1.8",
    "omegaconf==2.3.0",
    "hydra-core==1.3.2",  # detectron2 / fvcore
]
# Pure-Python packages published as sdists only: built into wheels here.
SDIST_WHEELS = ["fvcore==0.1.5.post20221221", "antlr4-python3-runtime==4.9.3"]
MMCV = "mmcv==2.1.0"
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
]
CAMVID_PARTS = ["images/train", "images/val", "labels/train", "labels/val"]
ISBI_PARTS = ["images/train", "labels/train"]


def log(msg: str) -> None:
    print(f"[bundle {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pip(*args: str, env=None) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def binary_wheels(dest: str) -> None:
    plat = [x for p in PLATFORMS for x in ("--platform", p)]
    pip(
        "download",
        "-q",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "--abi",
        "cp312",
        "--abi",
        "abi3",
        "--abi",
        "none",
        *plat,
        "-d",
        dest,
        *BINARY_WHEELS,
    )


def sdist_wheels(dest: str, tmp: str) -> None:
    pip("wheel", "-q", "--no-deps", "--no-binary", ":all:", "-w", tmp, *SDIST_WHEELS)
    for whl in glob.glob(os.path.join(tmp, "*.whl")):
        if not whl.endswith("-py3-none-any.whl"):
            raise SystemExit(f"error: {os.path.basename(whl)} is not a pure-Python wheel")
        shutil.move(whl, dest)


def _unpack(whl: str, into: str) -> str:
    subprocess.run([sys.executable, "-m", "wheel", "unpack", "-d", into, whl], check=True, stdout=subprocess.DEVNULL)
    (unpacked,) = glob.glob(os.path.join(into, "*"))
    return unpacked


def _pack(unpacked: str, dest: str, build: str | None = None) -> str:
    out = tempfile.mkdtemp(dir=os.path.dirname(unpacked))
    cmd = [sys.executable, "-m", "wheel", "pack", "-d", out, unpacked] + (["--build-number", build] if build else [])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    (whl,) = glob.glob(os.path.join(out, "*.whl"))
    return shutil.move(whl, dest)


def mmcv_shim_wheel(dest: str, tmp: str) -> str:
    """mmcv 2.1.0, no compiled ops, ``mmcv/ops`` = our torchvision-backed shim."""
    pip("download", "-q", "--no-deps", "--no-binary", ":all:", "--no-build-isolation", MMCV, "-d", tmp)
    subprocess.run(["tar", "-xzf", os.path.join(tmp, "mmcv-2.1.0.tar.gz"), "-C", tmp], check=True)
    src = os.path.join(tmp, "mmcv-2.1.0")
    built = os.path.join(tmp, "built")
    pip("wheel", "-q", "--no-deps", "--no-build-isolation", src, "-w", built, env={**os.environ, "MMCV_WITH_OPS": "0"})
    (whl,) = glob.glob(os.path.join(built, "mmcv_lite-2.1.0-*.whl"))
    un = _unpack(whl, os.path.join(tmp, "un"))
    ops = os.path.join(un, "mmcv", "ops")
    shutil.rmtree(ops)  # mmcv's op wrappers load the missing mmcv._ext at import; csrc is C++ source
    os.makedirs(ops)
    shutil.copy(SHIM, os.path.join(ops, "__init__.py"))
    return _pack(un, dest, build="1torchvisionops")


def detectron2_wheel(dest: str) -> str:
    """sal-detectron2 0.7.2 repacked as py3-none-any by ``dev/repack_detectron2.py`` (the
    same wheel ``scripts/setup_env.sh`` installs here)."""
    sys.path.insert(0, os.path.join(ROOT, "dev"))
    try:
        from repack_detectron2 import repack
    finally:
        sys.path.pop(0)
    return repack(dest)


def copy_data(src_root: str, dest_root: str, camvid_scale: float) -> dict:
    """Copy the reproduction data; returns what was copied and reduced."""
    from PIL import Image

    notes = {}
    for name, parts in (("camvid", CAMVID_PARTS), ("isbi2012", ISBI_PARTS)):
        for part in parts:
            src = os.path.join(src_root, name, part)
            if not os.path.isdir(src):
                raise SystemExit(
                    f"error: {src} not found; --data-root must hold camvid/ and isbi2012/ "
                    f"in the layout of ../shared/data (see its README)"
                )
            dst = os.path.join(dest_root, name, part)
            os.makedirs(dst, exist_ok=True)
            files = sorted(os.listdir(src))
            for fn in files:
                if name == "camvid" and camvid_scale != 1.0:
                    im = Image.open(os.path.join(src, fn))
                    size = (round(im.width * camvid_scale), round(im.height * camvid_scale))
                    label = part.startswith("labels")
                    im = im.resize(size, Image.NEAREST if label else Image.BILINEAR)
                    im.save(os.path.join(dst, fn), **({} if label else dict(quality=95)))
                else:
                    shutil.copyfile(os.path.join(src, fn), os.path.join(dst, fn))
            notes[f"{name}/{part}"] = len(files)
    notes["reduced"] = (
        "nothing: the files are copied unchanged"
        if camvid_scale == 1.0
        else f"CamVid images and labels resized by {camvid_scale} (images bilinear + JPEG q95, "
        f"labels nearest); ISBI unchanged"
    )
    notes["left_out"] = "isbi2012 images/test (no labels) and instances/; drive/, voc_tiny/"
    return notes


def tree_size(extra: str) -> dict:
    """Bytes that travel with a device call: tracked + untracked-not-ignored files + ``extra``."""
    out = (
        subprocess.run(
            ["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    tree = sum(os.path.getsize(os.path.join(ROOT, p)) for p in out if p and os.path.isfile(os.path.join(ROOT, p)))
    bundle = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(extra) for f in fs)
    return dict(tree_bytes=tree, bundle_bytes=bundle, total_bytes=tree + bundle, limit_bytes=CARRY_LIMIT)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, ".gpu_bundle"), help="bundle folder (git-ignored)")
    p.add_argument(
        "--data-root",
        default=os.path.join(os.path.dirname(ROOT), "shared", "data"),
        help="folder holding camvid/ and isbi2012/ (default ../shared/data)",
    )
    p.add_argument("--camvid-scale", type=float, default=1.0, help="resize CamVid by this factor (<= 1)")
    p.add_argument("--no-data", action="store_true", help="wheels only")
    a = p.parse_args(argv)
    if not 0.1 <= a.camvid_scale <= 1.0:
        p.error(f"--camvid-scale must be in [0.1, 1], got {a.camvid_scale}")
    wheels = os.path.join(a.out, "wheels")
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(wheels)
    with tempfile.TemporaryDirectory() as tmp:
        log(f"downloading {len(BINARY_WHEELS)} Python 3.12 wheels")
        binary_wheels(wheels)
        log(f"building pure-Python wheels from sdists: {', '.join(SDIST_WHEELS)}")
        sdist_wheels(wheels, os.path.join(tmp, "sdist"))
        log("building mmcv 2.1.0 without compiled ops, mmcv.ops -> torchvision shim")
        mmcv_shim_wheel(wheels, os.path.join(tmp, "mmcv"))
        log("repacking sal-detectron2 0.7.2 as py3-none-any (no _C, no top-level tools)")
        detectron2_wheel(wheels)
    data = {} if a.no_data else copy_data(a.data_root, os.path.join(a.out, "data"), a.camvid_scale)
    files = {}
    for fn in sorted(os.listdir(wheels)):
        with open(os.path.join(wheels, fn), "rb") as f:
            files[fn] = dict(bytes=os.path.getsize(f.name), sha256=hashlib.sha256(f.read()).hexdigest())
    size = tree_size(a.out)
    manifest = dict(
        built=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        python_target="cp312 manylinux x86_64",
        wheels=files,
        data=data,
        camvid_scale=a.camvid_scale,
        size=size,
    )
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    mib = lambda b: f"{b / 2**20:.1f} MiB"  # noqa: E731
    wheel_bytes = sum(v["bytes"] for v in files.values())
    log(
        f"{len(files)} wheels {mib(wheel_bytes)}, bundle {mib(size['bundle_bytes'])}, repository files "
        f"{mib(size['tree_bytes'])}: {mib(size['total_bytes'])} of the {mib(CARRY_LIMIT)} a device call carries"
    )
    if size["total_bytes"] > CARRY_LIMIT:
        print(
            f"error: {mib(size['total_bytes'])} exceeds the {mib(CARRY_LIMIT)} carry limit; rebuild with "
            f"--camvid-scale 0.5",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
