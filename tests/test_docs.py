"""The python snippets in README.md and docs/**/*.md are code a user will paste: they must work.

* every ```python block parses (``ast.parse``);
* a block whose info string is ```python runnable runs, as its own program, with this
  interpreter from the repository root (a subprocess: no state leaks between snippets);
* a block whose info string is ```python config is an mmengine config a user saves in a folder
  of their own: written to an empty temporary folder (a relative ``'../_base_/...'`` fails there;
  bases are ``segclassics::REL``), it is loaded with ``mmengine.config.Config`` after ``import
  segclassics.mmseg`` (as any program reading such a config does), its ``custom_imports`` are
  imported, and its ``model`` (if any) is built on the meta device.

The markers are described in docs/design.md ("Documentation snippets").
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.MULTILINE | re.DOTALL
)


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int  # 1-based line of the opening fence
    markers: tuple[str, ...]  # info-string words after the language
    code: str

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def python_snippets(page: Path) -> list[Snippet]:
    text = page.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        words = m.group("info").split()
        if not words or words[0].lower() not in ("python", "py", "python3"):
            continue
        indent = m.group("indent")
        body = "".join(
            line[len(indent) :] if line.startswith(indent) else line
            for line in m.group("body").splitlines(keepends=True)
        )
        found.append(Snippet(page, text.count("\n", 0, m.start()) + 1, tuple(w.lower() for w in words[1:]), body))
    return found


SNIPPETS = [s for page in PAGES for s in python_snippets(page)]
RUNNABLE = [s for s in SNIPPETS if "runnable" in s.markers]
CONFIGS = [s for s in SNIPPETS if "config" in s.markers]


def test_fence_parser_on_a_hand_made_page(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```bash\nls\n```\n* item\n\n  ```python runnable\n  x = 1\n  ```\n"
        "```python config\nmodel = dict()\n```\n```py\n```\n"
    )
    got = [(s.line, s.markers, s.code) for s in python_snippets(page)]
    assert got == [(7, ("runnable",), "x = 1\n"), (10, ("config",), "model = dict()\n"), (13, (), "")]


def test_the_docs_hold_snippets_of_each_kind():
    assert len(SNIPPETS) >= 3 and RUNNABLE and CONFIGS


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.id for s in SNIPPETS])
def test_python_snippet_parses(snippet):
    try:
        ast.parse(snippet.code, filename=snippet.id)
    except SyntaxError as e:
        pytest.fail(f"{snippet.id}: the python block does not parse: {e}")
    unknown = set(snippet.markers) - {"runnable", "config"}
    assert not unknown, f"{snippet.id}: unknown marker(s) {sorted(unknown)}; known: runnable, config"


@pytest.mark.slow
@pytest.mark.parametrize("snippet", RUNNABLE, ids=[s.id for s in RUNNABLE])
def test_runnable_snippet_runs(snippet):
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    proc = subprocess.run(
        [sys.executable, "-c", snippet.code], cwd=REPO, env=env, text=True, capture_output=True, timeout=300
    )
    assert proc.returncode == 0, f"{snippet.id} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize("snippet", CONFIGS, ids=[s.id for s in CONFIGS])
def test_config_snippet_loads_and_builds(snippet, tmp_path):
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    import segclassics.mmseg  # noqa: F401  (segclassics:: in _base_, as docs/install.md says)

    # Where a user would put it: a folder of their own, outside the checkout.
    path = tmp_path / "my_config.py"
    path.write_text(snippet.code)
    assert not [line for line in snippet.code.splitlines() if "'../" in line or '"../' in line], (
        f"{snippet.id}: a relative _base_ resolves only inside configs/; name bases as segclassics::REL"
    )
    cfg = Config.fromfile(str(path))  # imports cfg.custom_imports, as the runners do
    if "custom_imports" in cfg:
        assert isinstance(cfg.custom_imports, dict) and cfg.custom_imports.get("allow_failed_imports") is False, (
            f"{snippet.id}: custom_imports should be dict(imports=[...], allow_failed_imports=False)"
        )
    if "model" in cfg:
        init_default_scope(cfg.get("default_scope", "mmseg"))
        with torch.device("meta"):
            model = MODELS.build(cfg.model)
        assert sum(p.numel() for p in model.parameters()) > 0


def test_reliability_names_tests_that_exist():
    """Each test docs/reliability.md names (``file.py::test`` or ``file.py::Class::test``, or
    ``::test`` after a named file) is defined in that file."""
    text = (REPO / "docs" / "reliability.md").read_text()
    named = re.findall(r"`(test_\w+\.py)((?:::\w+)+)", text)
    assert len(named) > 50
    for file, path in named:
        source = (REPO / "tests" / file).read_text()
        for part in path.strip(":").split("::"):
            assert re.search(rf"^\s*(def|class) {part}\b", source, re.M), f"{file}::{part} named in reliability.md"
    for name in re.findall(r"`::(\w+)`", text):
        assert any(re.search(rf"^def {name}\b", p.read_text(), re.M) for p in (REPO / "tests").glob("test_*.py")), name
