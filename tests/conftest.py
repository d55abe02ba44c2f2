"""Shared pytest fixtures: synthetic data, the shared real data, running our tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO


def _hypothesis_profiles() -> None:
    """Property tests (``@pytest.mark.property``): in the suite, a fixed seed and a bounded number
    of examples (the same cases every run, a few seconds each); ``make fuzz`` loads the ``fuzz``
    profile: random seeds and many more examples."""
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("ci", derandomize=True, max_examples=40, deadline=None, print_blob=True, database=None)
    settings.register_profile("fuzz", derandomize=False, max_examples=500, deadline=None, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


_hypothesis_profiles()
SHARED_DATA = Path(os.environ.get("SEGCLASSICS_SHARED_DATA", REPO.parent / "shared" / "data"))


# What `make test` (and so CI) requires: with SEGCLASSICS_REQUIRE_STACK=1 a missing or broken
# package fails the run at its start, so a test's importorskip can never turn it into skips.
REQUIRED_STACK = (
    "torchvision",
    "mmcv.ops",
    "mmengine",
    "mmseg",
    "mmdet",
    "detectron2",
    "pycocotools",
    "onnx",
    "onnxruntime",
)


def pytest_sessionstart(session):
    if os.environ.get("SEGCLASSICS_REQUIRE_STACK") != "1":
        return
    import importlib

    broken = []
    for name in REQUIRED_STACK:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - report every broken package at once
            broken.append(f"{name} ({type(exc).__name__}: {exc})")
    if broken:
        raise pytest.UsageError(
            "the tested stack is incomplete (SEGCLASSICS_REQUIRE_STACK=1): "
            + "; ".join(broken)
            + ". Run scripts/setup_env.sh."
        )


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A small synthetic dataset (8 train / 4 val, 64x64) generated once per session."""
    from segclassics.datasets.synthetic import ensure_synthetic

    root = tmp_path_factory.mktemp("synthetic")
    ensure_synthetic(str(root), num_train=8, num_val=4, size=(64, 64), seed=0)
    return root


@pytest.fixture(scope="session")
def shared_data():
    """``shared_data('camvid')`` -> Path of ../shared/data/camvid, or skip with a reason."""

    def get(name: str) -> Path:
        path = SHARED_DATA / name
        if not path.exists():
            pytest.skip(f"real data {path} is absent (tests that need ../shared/data skip without it)")
        return path

    return get


@pytest.fixture(scope="session")
def run_tool():
    """Run ``tools/<script>`` with this interpreter; returns CompletedProcess (text)."""

    def run(
        script: str,
        *args: str,
        timeout: float = 900,
        env: dict | None = None,
        cwd: Path | None = None,
        launcher: list[str] | None = None,
    ) -> subprocess.CompletedProcess:
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
        full_env.update(env or {})
        cmd = (launcher or [sys.executable]) + [str(REPO / "tools" / script), *map(str, args)]
        return subprocess.run(cmd, cwd=cwd or REPO, env=full_env, text=True, capture_output=True, timeout=timeout)

    return run


@pytest.fixture(autouse=True)
def _restore_mmengine_default_scope():
    """Undo default-scope changes a test makes (``init_default_scope('mmdet')`` in one test
    would otherwise make every later mmseg test look up 'EncoderDecoder' in mmdet's registry)."""
    if "mmengine" not in sys.modules:
        yield
        return
    from mmengine.registry import DefaultScope

    saved = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(options)`` -> a fresh tmpfs mounted with ``options`` (e.g. ``"size=1m"``, ``"ro"``),
    unmounted after the test; the test is skipped where mounting is not allowed (root and mount
    rights are needed: a full disk and a read-only file system cannot be had otherwise)."""
    mounted = []

    def mount(options: str) -> Path:
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        if (
            subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True).returncode
            != 0
        ):
            pytest.skip(f"cannot mount a tmpfs ({options}) here: needs root and mount rights")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], capture_output=True)
