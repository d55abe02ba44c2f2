"""dev/upstream/lint.py: the assembled projects under the upstream repositories' own linters.

Each family is assembled (dev/upstream/assemble.py) as an mmsegmentation or mmdetection project
and as a detectron2 project, and linted as the upstream's pre-commit hooks / ``dev/linter.sh``
would (``lint_settings/``, the linters' versions of ``requirements/lint_openmmlab.txt`` and
``requirements/lint_detectron2.txt``). The fixers (isort, yapf, black, the quote and whitespace
fixers) may reformat files; the checkers' findings must be line lengths only (E501: the copied
code keeps this repository's 120 columns, upstream has 79 / 100), nothing else.

The linters live in their own venvs (their pins conflict with each other and are not this
project's): ``SEGCLASSICS_LINT_OPENMMLAB`` / ``SEGCLASSICS_LINT_DETECTRON2`` name them; without
them these tests are skipped, saying what to install.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"upstream_{name}", REPO / "dev" / "upstream" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


assemble = _load("assemble")
lint = _load("lint")
FAMILIES = ["fcn", "unet", "segnet", "setr", "mask_rcnn"]


def _venv(upstream: str) -> str:
    venv = os.environ.get(lint.UPSTREAMS[upstream][1], "")
    try:
        lint.check_tools(upstream, venv)
    except lint.LintToolsMissing as e:
        pytest.skip(f"upstream linters not installed: {e}")
    return venv


def _not_line_length(report) -> list[str]:
    return [line for line in report.findings if ": E501 line too long" not in line]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_openmmlab_project_passes_upstream_lint_but_line_length(family, tmp_path):
    upstream = "mmdetection" if assemble.FAMILIES[family].framework == "mmdet" else "mmsegmentation"
    venv = _venv(upstream)
    out = tmp_path / "projects" / f"paper_{family}"
    assemble.assemble(family, str(out))
    report = lint.lint(upstream, str(out), venv)
    assert _not_line_length(report) == []


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_detectron2_project_passes_upstream_lint_but_line_length(family, tmp_path):
    venv = _venv("detectron2")
    out = tmp_path / "projects" / f"Paper{family.title().replace('_', '')}"
    assemble.assemble_detectron2(family, str(out))
    report = lint.lint("detectron2", str(out), venv)
    assert _not_line_length(report) == []


def test_lint_names_what_to_install(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SEGCLASSICS_LINT_DETECTRON2"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "dev/upstream/lint.py"), "detectron2", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: no linters' venv for detectron2 (SEGCLASSICS_LINT_DETECTRON2 is not set); install them: python3 "
        "-m venv DIR && DIR/bin/pip install -r requirements/lint_detectron2.txt, then pass --venv DIR or set "
        "SEGCLASSICS_LINT_DETECTRON2=DIR"
    ]
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "dev/upstream/lint.py"),
            "mmsegmentation",
            str(tmp_path),
            "--venv",
            str(tmp_path / "nothing"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nothing' / 'bin' / 'python'} cannot run; install them: python3 -m venv DIR && "
        f"DIR/bin/pip install -r requirements/lint_openmmlab.txt, then pass --venv DIR or set "
        f"SEGCLASSICS_LINT_OPENMMLAB=DIR"
    ]
