"""The import rules of docs/design.md ("Floors"), checked on every module's imports (parsed with
``ast``, nothing imported): no module imports from a floor above its own.

Imports inside functions count too, except for ``deploy/``, which loads framework code lazily
by design (only its module-level imports are checked).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from helpers import REPO

PACKAGE = REPO / "plugins" / "segclassics"
FRAMEWORKS = ("mmengine", "mmcv", "mmseg", "mmdet", "detectron2")
ADAPTERS = ("mmseg", "mmdet", "detectron2", "openmmlab")
TOP = ("engine", "deploy")


def _module_name(path: Path) -> List[str]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path, module_level_only: bool) -> Iterator[Tuple[int, str]]:
    """``(line, absolute dotted name)`` of each import of ``path`` (``from a import b`` yields
    ``a.b`` too, so that ``from segclassics import engine`` is seen)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parts = _module_name(path)
    package = parts if path.name == "__init__.py" else parts[:-1]
    if module_level_only:  # the body, and the blocks of its if/try/with statements
        nodes, stack = [], list(tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    stack.extend(getattr(node, field, []) or [])
            elif isinstance(node, ast.ExceptHandler):
                stack.extend(node.body)
            else:
                nodes.append(node)
    else:
        nodes = list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offenders(folders, forbidden, module_level_only=False) -> List[str]:
    found = {}  # one entry per import statement: its first forbidden name
    for folder in folders:
        paths = [PACKAGE / folder] if folder.endswith(".py") else sorted((PACKAGE / folder).rglob("*.py"))
        for path in paths:
            for line, name in _imports(path, module_level_only):
                if _under(name, *forbidden):
                    found.setdefault(f"{path.relative_to(PACKAGE.parent)}:{line}", name)
    return sorted(f"{where} imports {name}" for where, name in found.items())


RULES = {
    # rule: (folders, forbidden import prefixes, module-level only)
    "segclassics.errors imports nothing of segclassics": (["errors.py"], ["segclassics"], False),
    "datasets/utils/evaluation/models: no engine, deploy, adapter or framework": (
        ["datasets", "utils", "evaluation", "models"],
        [f"segclassics.{p}" for p in TOP + ADAPTERS] + list(FRAMEWORKS),
        False,
    ),
    "adapters: no engine or deploy": (list(ADAPTERS), [f"segclassics.{p}" for p in TOP], False),
    "mmseg/mmdet/openmmlab: no detectron2": (
        ["mmseg", "mmdet", "openmmlab"],
        ["detectron2", "segclassics.detectron2"],
        False,
    ),
    "detectron2 adapters: no OpenMMLab": (
        ["detectron2"],
        ["mmengine", "mmcv", "mmseg", "mmdet", "segclassics.mmseg", "segclassics.mmdet", "segclassics.openmmlab"],
        False,
    ),
    "deploy: no framework or adapter at module level": (
        ["deploy"],
        list(FRAMEWORKS) + [f"segclassics.{p}" for p in ADAPTERS],
        True,
    ),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_no_import_from_a_higher_floor(rule):
    folders, forbidden, module_level_only = RULES[rule]
    offenders = _offenders(folders, forbidden, module_level_only)
    assert not offenders, f"{rule}; offenders:\n" + "\n".join(offenders)


def test_the_import_scan_sees_relative_absolute_and_function_level_imports(tmp_path, monkeypatch):
    # the scan itself, on a known module: a rule checked by a blind scan would always pass
    names = {name for _, name in _imports(PACKAGE / "engine" / "detectron2_runner.py", False)}
    assert "segclassics.utils.reporting" in names  # relative, module level
    assert "segclassics.detectron2.log_filter" in names  # absolute, inside a function
    top = {name for _, name in _imports(PACKAGE / "engine" / "detectron2_runner.py", True)}
    assert "segclassics.detectron2.log_filter" not in top
    assert _offenders(["engine"], ["segclassics.detectron2"])  # engine may, and does, use the adapters


# ----------------------------------------------------------------------------- one backend per framework

KIND_NAMES = {"MMENGINE", "D2_LAZY", "D2_YAML"}  # segclassics.engine.config_kind
FRAMEWORK_NAMES = {"mmengine", "mmseg", "mmdet", "detectron2", "detectron2-lazy", "detectron2-yaml"}
SWITCHES = {"kind", "framework", "scope", "default_scope"}  # what holds a config's kind or framework
BACKENDS = PACKAGE / "engine" / "backends"


def _is_framework_constant(node) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in FRAMEWORK_NAMES
    if isinstance(node, ast.Name):
        return node.id in KIND_NAMES
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_framework_constant(e) for e in node.elts)
    return False


def _is_switch(node) -> bool:
    """``kind``, ``x.kind``, ``framework``, ``x.framework``, ``scope`` or ``cfg.get('default_scope')``."""
    if isinstance(node, ast.Name):
        return node.id in SWITCHES
    if isinstance(node, ast.Attribute):
        return node.attr in SWITCHES
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value in SWITCHES
    return False


def _kind_branches(path: Path) -> List[str]:
    """``line: comparison`` for each comparison of a config's kind or framework with a framework's
    name in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_switch(s) for s in sides) and any(_is_framework_constant(s) for s in sides):
                found.append((node.lineno, f"{node.lineno}: {ast.unparse(node)}"))
    return [text for _, text in sorted(found)]


def test_no_kind_or_framework_branch_outside_the_backends():
    # docs/design.md, "Backends": the framework is chosen once (engine/backends/backend_for);
    # elsewhere the flow asks the backend
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if BACKENDS not in path.parents
        for line in _kind_branches(path)
    ]
    assert not offenders, "kind/framework branches outside engine/backends/:\n" + "\n".join(offenders)


def test_the_kind_branch_scan_sees_the_branches_it_forbids(tmp_path):
    # the scan on hand-written branches (a scan that saw nothing would always pass), and on
    # look-alikes that are no framework switch
    source = tmp_path / "m.py"
    source.write_text(
        "if loaded.kind == MMENGINE: pass\n"
        "x = 1 if loaded.framework == 'mmdet' else 2\n"
        "if scope not in ('mmseg', 'mmdet'): pass\n"
        "if cfg.get('default_scope', None) != 'mmseg': pass\n"
        "if kind == 'pool': pass\n"  # a layer kind (models/vgg.py)
        "if fmt == 'mmseg': pass\n"  # a checkpoint key format (models/vit_convert.py)
        "if p.kind is inspect.Parameter.VAR_KEYWORD: pass\n",
        encoding="utf-8",
    )
    assert _kind_branches(source) == [
        "1: loaded.kind == MMENGINE",
        "2: loaded.framework == 'mmdet'",
        "3: scope not in ('mmseg', 'mmdet')",
        "4: cfg.get('default_scope', None) != 'mmseg'",
    ]
