#!/usr/bin/env python
"""Lint an assembled project folder the way the upstream repository would, before its pull request.

    python dev/upstream/lint.py mmsegmentation PROJECT_DIR   # or mmdetection / detectron2

The folder is copied into a scratch checkout root that holds the upstream's own settings
(``lint_settings/``: mmsegmentation's or mmdetection's ``setup.cfg``; detectron2's ``setup.cfg``
and ``.flake8``), and the upstream's tools run there, in the order their hooks run:

* mmsegmentation / mmdetection (``.pre-commit-config.yaml``): the fixers isort, yapf,
  double-quote-string-fixer, trailing-whitespace, end-of-file-fixer, mixed-line-ending --fix=lf,
  fix-encoding-pragma --remove, docformatter --in-place --wrap-descriptions 79, mdformat --number
  (with mdformat-openmmlab, mdformat-frontmatter, linkify-it-py); then the checkers
  flake8 (its defaults: 79 columns), codespell and check-yaml;
* detectron2 (``dev/linter.sh``, as its CI runs it): the fixers isort -y (4.3.21) and
  black -l 100; then flake8 with its ``.flake8``.

Printed: the files the fixers changed (the upstream hooks change them the same way in its
checkout, so a first ``pre-commit run`` there rewrites them), then every checker finding, paths
relative to the project. Exit status 1 when a checker found something, else 0. PROJECT_DIR
itself is only read.

The linters come from their own virtual environment, at the upstream's versions
(``requirements/lint_openmmlab.txt``, ``requirements/lint_detectron2.txt``; their pins conflict,
so one environment each): ``--venv DIR``, or ``$SEGCLASSICS_LINT_OPENMMLAB`` /
``$SEGCLASSICS_LINT_DETECTRON2``, else ``.venv-lint/openmmlab`` / ``.venv-lint/detectron2`` in
the checkout (``scripts/setup_env.sh`` builds both, so ``make test`` runs these checks).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SETTINGS = os.path.join(HERE, "lint_settings")

#: upstream -> (requirements file, environment variable naming its linters' venv, settings files)
UPSTREAMS = {
    "mmsegmentation": ("lint_openmmlab.txt", "SEGCLASSICS_LINT_OPENMMLAB", {"setup.cfg": "mmsegmentation_setup.cfg"}),
    "mmdetection": ("lint_openmmlab.txt", "SEGCLASSICS_LINT_OPENMMLAB", {"setup.cfg": "mmdetection_setup.cfg"}),
    "detectron2": (
        "lint_detectron2.txt",
        "SEGCLASSICS_LINT_DETECTRON2",
        {"setup.cfg": "detectron2_setup.cfg", ".flake8": "detectron2.flake8"},
    ),
}


def linters_venv(upstream: str) -> str:
    """The venv of ``upstream``'s linters: its environment variable, else the checkout's
    ``.venv-lint/<openmmlab|detectron2>`` where the set-up built it, else ''."""
    requirements, variable, _ = UPSTREAMS[upstream]
    if os.environ.get(variable):
        return os.environ[variable]
    default = os.path.join(REPO, ".venv-lint", requirements[len("lint_") : -len(".txt")])
    return default if os.path.isdir(default) else ""


class LintToolsMissing(RuntimeError):
    """The upstream's linters are not installed at its versions (one line: what to install)."""


@dataclass
class LintReport:
    changed: List[str] = field(default_factory=list)  # files the fixers rewrote
    findings: List[str] = field(default_factory=list)  # "path:line:col: CODE message" / codespell lines

    def codes(self) -> Dict[str, int]:
        """flake8 codes found -> how many (codespell findings count as ``codespell``)."""
        out: Dict[str, int] = {}
        for line in self.findings:
            m = re.match(r"[^:]+:\d+:\d+: ([A-Z]+\d+) ", line)
            key = m.group(1) if m else "codespell" if " ==> " in line else "other"
            out[key] = out.get(key, 0) + 1
        return out


def pinned(upstream: str) -> Dict[str, str]:
    """The linters' versions the upstream runs (from the requirements file): name -> version."""
    with open(os.path.join(REPO, "requirements", UPSTREAMS[upstream][0])) as f:
        return dict(re.match(r"([\w.-]+)==([\w.]+)", line).groups() for line in f if re.match(r"[\w.-]+==", line))


def check_tools(upstream: str, venv: str) -> str:
    """The venv's bin folder; raises :class:`LintToolsMissing` unless it holds the pinned versions."""
    requirements, variable, _ = UPSTREAMS[upstream]
    how = (
        f"install them: python3 -m venv DIR && DIR/bin/pip install -r requirements/{requirements}, "
        f"then pass --venv DIR or set {variable}=DIR"
    )
    if not venv:
        raise LintToolsMissing(f"no linters' venv for {upstream} ({variable} is not set); {how}")
    python = os.path.join(venv, "bin", "python")
    want = pinned(upstream)
    code = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n    try:\n        return m.version(n)\n    except m.PackageNotFoundError:\n        return None\n"
        f"print(json.dumps({{n: v(n) for n in {sorted(want)!r}}}))"
    )
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    except OSError:
        raise LintToolsMissing(f"{python} cannot run; {how}") from None
    import json

    have = json.loads(proc.stdout) if proc.returncode == 0 else {}
    wrong = [f"{n}=={v} (found {have.get(n)})" for n, v in want.items() if have.get(n) != v]
    if wrong:
        raise LintToolsMissing(f"{venv} lacks {', '.join(wrong)}; {how}")
    return os.path.join(venv, "bin")


def _snapshot(folder: str) -> Dict[str, bytes]:
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def _run(cmd: List[str], cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


def lint(upstream: str, project: str, venv: str) -> LintReport:
    """Run ``upstream``'s fixers then checkers on a copy of ``project`` (see the module docstring)."""
    bin_dir = check_tools(upstream, venv)

    def tool(name: str) -> str:
        return os.path.join(bin_dir, name)

    name = os.path.basename(os.path.abspath(project))
    report = LintReport()
    with tempfile.TemporaryDirectory(prefix="upstream-lint-") as root:
        for dst, src in UPSTREAMS[upstream][2].items():
            shutil.copyfile(os.path.join(SETTINGS, src), os.path.join(root, dst))
        rel = os.path.join("projects", name)
        copy = os.path.join(root, rel)
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
        before = _snapshot(copy)
        py = sorted(os.path.join(rel, p) for p in before if p.endswith(".py"))
        every = sorted(os.path.join(rel, p) for p in before)
        if upstream == "detectron2":
            fixers = [[tool("isort"), "-rc", rel, "-sp", "setup.cfg", "-y"], [tool("black"), "-q", "-l", "100", rel]]
            checkers = [[tool("flake8"), rel]]
        else:
            fixers = [
                [tool("isort"), "--settings-path", "setup.cfg", *py],
                [tool("yapf"), "-i", "--style", "setup.cfg", *py],
                [tool("double-quote-string-fixer"), *py],
                [tool("trailing-whitespace-fixer"), *every],
                [tool("end-of-file-fixer"), *every],
                [tool("mixed-line-ending"), "--fix=lf", *every],
                [tool("fix-encoding-pragma"), "--remove", *py],
                [tool("docformatter"), "--in-place", "--wrap-descriptions", "79", *py],
                [tool("mdformat"), "--number", *[p for p in every if p.endswith(".md")]],
            ]
            checkers = [
                [tool("flake8"), rel],
                [tool("codespell"), rel],
                [tool("check-yaml"), *[p for p in every if p.endswith((".yaml", ".yml"))]],
            ]
        for cmd in fixers:
            _run(cmd, root)  # a fixer exits 1 when it changed a file: what it changed is compared below
        after = _snapshot(copy)
        report.changed = sorted(p for p in before if after.get(p) != before[p])
        for cmd in checkers:
            if cmd[-1] == tool("check-yaml"):
                continue  # no yaml file
            proc = _run(cmd, root)
            lines = [
                line.replace(copy + os.sep, "").replace(rel + os.sep, "")
                for line in (proc.stdout + proc.stderr).splitlines()
                if line.strip()
            ]
            report.findings += lines if proc.returncode else []
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("upstream", choices=sorted(UPSTREAMS))
    p.add_argument("project", help="the assembled project folder (dev/upstream/assemble.py OUT_DIR)")
    p.add_argument(
        "--venv",
        default=None,
        help="the linters' virtual environment (default: $SEGCLASSICS_LINT_OPENMMLAB or $SEGCLASSICS_LINT_DETECTRON2, "
        "else the checkout's .venv-lint/openmmlab or .venv-lint/detectron2)",
    )
    args = p.parse_args(argv)
    if not os.path.isdir(args.project):
        p.error(f"project folder not found: {args.project!r}")
    venv = args.venv or linters_venv(args.upstream)
    try:
        report = lint(args.upstream, args.project, venv)
    except LintToolsMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in report.changed:
        print(f"reformatted by the {args.upstream} fixers: {path}")
    for line in report.findings:
        print(line)
    print(
        f"{len(report.changed)} files reformatted; findings: "
        + (", ".join(f"{k} x{v}" for k, v in sorted(report.codes().items())) or "none")
    )
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
