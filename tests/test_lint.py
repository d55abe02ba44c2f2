"""ruff (pyproject.toml [tool.ruff]) passes on the tree: lint (pycodestyle, pyflakes, import
order, bugbear) and format. ``bash dev/format_tree.sh`` (``make format``) applies the fixes and
the formatter and lists what needs a hand fix.

ruff is pinned in requirements/lint.txt (another release may format differently); where it is
absent or another version, the tests skip saying so, except under ``make test`` and CI
(``SEGCLASSICS_REQUIRE_STACK=1``), which install it and fail without it.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

PINNED = next(
    line.split("==", 1)[1].strip()
    for line in (REPO / "requirements" / "lint.txt").read_text().splitlines()
    if line.startswith("ruff==")
)


def _ruff_version() -> str | None:
    try:
        return importlib.metadata.version("ruff")
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.fixture(scope="module")
def ruff():
    """``ruff(*args, cwd=REPO)`` -> CompletedProcess of the pinned ruff (``python -m ruff``)."""
    have = _ruff_version()
    if have != PINNED:
        why = (
            f"ruff {PINNED} (requirements/lint.txt) is not installed in {sys.prefix} "
            f"({'found ruff ' + have if have else 'no ruff'}); pip install -r requirements/lint.txt"
        )
        if os.environ.get("SEGCLASSICS_REQUIRE_STACK") == "1":
            pytest.fail(why)
        pytest.skip(why)

    def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=cwd, capture_output=True, text=True, timeout=300
        )

    return run


def test_ruff_check_is_clean(ruff):
    proc = ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert proc.returncode == 0, (
        "ruff check found violations (bash dev/format_tree.sh fixes what it can):\n" + proc.stdout + proc.stderr
    )


def test_ruff_format_is_clean(ruff):
    proc = ruff("format", "--check", "--no-cache", ".")
    assert proc.returncode == 0, (
        "files not formatted by ruff (run: bash dev/format_tree.sh):\n" + proc.stdout + proc.stderr
    )


def test_ruff_uses_the_project_settings_and_reports_violations(ruff, tmp_path):
    """The two checks above can fail: with the project's settings, ruff reports an unused import,
    imports out of order, a line over 120 columns and single-quoted strings in a file like ours."""
    bad = tmp_path / "plugins" / "segclassics" / "bad.py"
    bad.parent.mkdir(parents=True)
    long_line = "X = " + '"' + "a" * 120 + '"'
    ok_line = "Y = " + '"' + "b" * 100 + '"'  # 106 columns: within the project's 120
    bad.write_text(f"import sys\nimport os\n\nprint(os.sep, 'single')\n{long_line}\n{ok_line}\n")
    name = "plugins/segclassics/bad.py"  # ruff names it relative to its working directory
    settings = ("--config", str(REPO / "pyproject.toml"), "--no-cache")
    checked = ruff("check", *settings, "--output-format", "concise", name, cwd=tmp_path)
    codes = sorted({line.split(" ")[1] for line in checked.stdout.splitlines() if line.startswith(name)})
    assert checked.returncode == 1 and codes == ["E501", "F401", "I001"], checked.stdout + checked.stderr
    assert f"{name}:5:121: E501" in checked.stdout and f"{name}:6:" not in checked.stdout  # over 120 only
    formatted = ruff("format", *settings, "--diff", name, cwd=tmp_path)
    assert formatted.returncode == 1 and '+print(os.sep, "single")' in formatted.stdout, formatted.stdout
