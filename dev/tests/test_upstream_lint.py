"""dev/upstream/lint.py: the assembled projects under the upstream repositories' own linters.

Each family is assembled (dev/upstream/assemble.py) as an mmsegmentation or mmdetection project
and as a detectron2 project, and linted as the upstream's pre-commit hooks / ``dev/linter.sh``
would (``lint_settings/``, the linters' versions of ``requirements/lint_openmmlab.txt`` and
``requirements/lint_detectron2.txt``). The fixers (isort, yapf, docformatter, black, the quote and
whitespace fixers) may reformat Python files, mdformat leaves the README as it is; the checkers
find nothing, line length included: the assembler wraps comments, docstrings, string literals and
long assignments to upstream's 79 / 100 columns (dev/upstream/wrap.py), and the formatters the
rest of the code.

The linters live in their own venvs (their pins conflict with each other and are not this
project's): ``SEGCLASSICS_LINT_OPENMMLAB`` / ``SEGCLASSICS_LINT_DETECTRON2`` name them; without
them these tests are skipped, saying what to install.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
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
wrap = _load("wrap")
FAMILIES = ["fcn", "unet", "segnet", "setr", "mask_rcnn"]


def _venv(upstream: str) -> str:
    venv = lint.linters_venv(upstream)
    try:
        lint.check_tools(upstream, venv)
    except lint.LintToolsMissing as e:
        if os.environ.get("SEGCLASSICS_REQUIRE_STACK") == "1":  # make test: the set-up builds them
            pytest.fail(f"upstream linters not installed (SEGCLASSICS_REQUIRE_STACK=1): {e}")
        pytest.skip(f"upstream linters not installed: {e}")
    return venv


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_openmmlab_project_passes_upstream_lint(family, tmp_path):
    upstream = "mmdetection" if assemble.FAMILIES[family].framework == "mmdet" else "mmsegmentation"
    venv = _venv(upstream)
    out = tmp_path / "projects" / f"paper_{family}"
    assemble.assemble(family, str(out))
    report = lint.lint(upstream, str(out), venv)
    assert report.findings == []  # line length (79) included
    assert "README.md" not in report.changed  # already as mdformat (the markdown hook) writes it


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_detectron2_project_passes_upstream_lint(family, tmp_path):
    venv = _venv("detectron2")
    out = tmp_path / "projects" / f"Paper{family.title().replace('_', '')}"
    assemble.assemble_detectron2(family, str(out))
    report = lint.lint("detectron2", str(out), venv)
    assert report.findings == []  # line length (100) included


def test_wrap_moves_and_wraps_comments_and_docstrings_only():
    source = (
        '"""A module docstring whose one line is longer than forty columns."""\n'
        "\n"
        "# a comment line that is much longer than the limit of forty\n"
        "x = 1  # a trailing comment that makes the line long\n"
        "y = 2  # noqa: E501 - the explanation of a pragma\n"
        "z = 3  # type: int\n"
    )
    assert wrap.wrap_source(source, 40) == (
        '"""A module docstring whose one line is\n'
        'longer than forty columns."""\n'
        "\n"
        "# a comment line that is much longer\n"
        "# than the limit of forty\n"
        "# a trailing comment that makes the line\n"  # 40 columns
        "# long\n"
        "x = 1\n"
        "# the explanation of a pragma\n"
        "y = 2  # noqa: E501\n"
        "z = 3  # type: int\n"
    )


def test_split_strings_cuts_long_literals_into_the_same_constant():
    source = (
        "def f(x):\n"
        '    raise ValueError(f"the value {x!r} of the option is not one we accept, {{x}} is not")\n'
        'HINT = "set the variable to the folder of your copy of the dataset"\n'
    )
    assert wrap.split_strings(source, 40) == (
        "def f(x):\n"
        '    raise ValueError(f"the value {x!r} "\n'
        '                     f"of the option "\n'
        '                     f"is not one we "\n'
        '                     f"accept, {{x}} "\n'
        '                     f"is not")\n'
        'HINT = ("set the variable to the "\n'
        '        "folder of your copy of the "\n'
        '        "dataset")\n'
    )
    import ast

    assert ast.dump(ast.parse(wrap.split_strings(source, 40))) == ast.dump(ast.parse(source))


def test_bracket_assignments_parenthesises_a_long_value():
    source = "class A:\n    def f(self, a, b):\n        self.first, self.second = a + b, a * b\n"
    assert wrap.bracket_assignments(source, 40) == (
        "class A:\n    def f(self, a, b):\n        self.first, self.second = (\n            a + b, a * b)\n"
    )


def _long_comment_or_docstring_lines(folder: Path, limit: int) -> list[str]:
    """``path:line`` of comment and docstring lines over ``limit`` that hold a space (wrappable)."""
    import ast
    import io
    import tokenize

    found = []
    for path in sorted(folder.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        docstrings = wrap._docstring_lines(ast.parse(source))
        comments = {
            t.start[0] for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT
        }
        for number, line in enumerate(lines, 1):
            if len(line) > limit and " " in line.strip() and (number in docstrings or number in comments):
                if number in comments and wrap.PRAGMAS.search(line):
                    continue
                found.append(f"{path.relative_to(folder)}:{number}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_assembled_comments_and_docstrings_fit_upstreams_line_length(family, tmp_path):
    out = tmp_path / "projects" / f"paper_{family}"
    assemble.assemble(family, str(out))
    assert _long_comment_or_docstring_lines(out, 79) == []
    if assemble.FAMILIES[family].d2_configs:
        out = tmp_path / "projects" / f"Paper{family.title().replace('_', '')}"
        assemble.assemble_detectron2(family, str(out))
        assert _long_comment_or_docstring_lines(out, 100) == []


def test_lint_names_what_to_install(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SEGCLASSICS_LINT_DETECTRON2"}
    bare = tmp_path / "checkout"  # a checkout whose set-up built no .venv-lint/
    (bare / "dev/upstream").mkdir(parents=True)
    shutil.copy(REPO / "dev/upstream/lint.py", bare / "dev/upstream/lint.py")
    shutil.copytree(REPO / "requirements", bare / "requirements")
    proc = subprocess.run(
        [sys.executable, str(bare / "dev/upstream/lint.py"), "detectron2", str(tmp_path)],
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
