"""Copy a set of segclassics source files, and everything they import from segclassics, into
another package, rewriting the imports so that the copy never imports ``segclassics``.

Used by ``dev/upstream/assemble.py``. Everything is decided from the source text (``ast``),
so nothing here imports the modules it copies:

* ``registered_names(file)``: the names a file registers in a framework registry
  (``@MODELS.register_module()``, ``@MODELS.register_module(name='X')``,
  ``MODELS.register_module(name='X', module=Y)``);
* ``import_closure(files)``: those files plus every segclassics module they import, directly or
  through other segclassics modules, including imports inside functions;
* ``rewrite_imports(source, module, mapping)``: the source with each segclassics import replaced by
  a relative import of the same module's new location (``mapping`` gives the new dotted name of
  an old one).
"""

from __future__ import annotations

import ast
import os
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

ROOT_PACKAGE = "segclassics"


class VendorError(Exception):
    """The source uses an import form this tool cannot rewrite; it names file and line."""


def module_name(path: str, src_root: str) -> str:
    """'plugins/segclassics/models/unet.py' -> 'segclassics.models.unet' (``src_root`` = 'plugins')."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(src_root))
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def module_file(name: str, src_root: str) -> Optional[str]:
    """The file of dotted module ``name`` under ``src_root`` (module.py or package/__init__.py)."""
    base = os.path.join(src_root, *name.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _is_package(name: str, src_root: str) -> bool:
    return os.path.isfile(os.path.join(src_root, *name.split("."), "__init__.py"))


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ImportFrom refers to, from inside ``module``."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 > len(package):
        raise VendorError(f"{module}:{node.lineno}: relative import beyond the top package")
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def segclassics_imports(path: str, src_root: str, config: bool = False) -> List[Tuple[ast.stmt, str, List[str]]]:
    """Every import of a segclassics module in ``path``: (node, absolute module, names imported).

    ``config=True``: ``path`` is a config file outside ``src_root`` (a detectron2 LazyConfig); its
    relative imports are of other config files, not of segclassics.
    """
    module = "" if config else module_name(path, src_root)
    is_package = os.path.basename(path) == "__init__.py"
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if config and node.level:
                continue
            target = _absolute(node, module, is_package)
            if target == ROOT_PACKAGE or target.startswith(ROOT_PACKAGE + "."):
                found.append((node, target, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT_PACKAGE or alias.name.startswith(ROOT_PACKAGE + "."):
                    found.append((node, alias.name, []))
    return found


def closure(start: Iterable[str], neighbours: Callable[[str], Iterable[str]]) -> List[str]:
    """Everything reachable from ``start`` through ``neighbours`` (start included), sorted."""
    todo, seen = list(start), set()
    while todo:
        item = todo.pop()
        if item not in seen:
            seen.add(item)
            todo.extend(neighbours(item))
    return sorted(seen)


def imported_modules(path: str, src_root: str, config: bool = False) -> List[str]:
    """The segclassics modules ``path`` imports: ``from pkg import name`` gives ``pkg.name`` when
    that is a module, else ``pkg`` itself (its ``__init__`` defines the name)."""
    found = []
    for node, target, names in segclassics_imports(path, src_root, config):
        if isinstance(node, ast.ImportFrom):
            for n in names:
                sub = f"{target}.{n}"
                found.append(sub if module_file(sub, src_root) else target)
        else:
            found.append(target)
    return found


def import_closure(files: Iterable[str], src_root: str, modules: Iterable[str] = ()) -> Set[str]:
    """Module names of ``files`` (and of ``modules``) and of every segclassics module they import,
    transitively, including imports inside functions.

    Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``; those are not added
    here unless a name defined in them is imported: the copy gets its own package ``__init__`` files.
    """

    def neighbours(name: str) -> List[str]:
        path = module_file(name, src_root)
        if path is None:
            raise VendorError(f"module {name} not found under {src_root}")
        return imported_modules(path, src_root)

    seen = closure([module_name(f, src_root) for f in files] + list(modules), neighbours)
    # A package's __init__ is only needed when something imports a name defined in it.
    return {n for n in seen if not _is_package(n, src_root) or _defines_names(n, src_root)}


def _defines_names(package: str, src_root: str) -> bool:
    """True if the package's ``__init__`` has code besides a docstring and imports of its submodules."""
    with open(module_file(package, src_root)) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is None:
            continue  # `from . import submodule` (registration lists)
        return True
    return False


def _relative(from_module: str, from_is_package: bool, target: str) -> Tuple[int, str]:
    """(level, module) of a relative import of ``target`` written inside ``from_module``."""
    here = from_module.split(".") if from_is_package else from_module.split(".")[:-1]
    there = target.split(".")
    common = 0
    while common < min(len(here), len(there)) and here[common] == there[common]:
        common += 1
    if common == 0:
        raise VendorError(f"{target} is outside the package of {from_module}")
    return len(here) - common + 1, ".".join(there[common:])


def rewrite_imports(
    source: str, path: str, src_root: str, new_module: str, mapping: Callable[[str], str], config: bool = False
) -> str:
    """``source`` of ``path`` with every segclassics import turned into a relative import of the
    module's new name (``mapping(old) -> new``), for a file that becomes ``new_module``.

    ``config=True`` (a config file outside the package): absolute imports of the new names."""
    is_package = os.path.basename(path) == "__init__.py"
    lines = source.splitlines(keepends=True)
    edits: Dict[int, Tuple[int, str]] = {}  # first line index -> (last line index, replacement)
    for node, target, _names in segclassics_imports(path, src_root, config):
        if isinstance(node, ast.Import):
            aliases = [a for a in node.names if a.name.startswith(ROOT_PACKAGE)]
            if len(node.names) != 1 or not aliases[0].asname or "." not in aliases[0].name:
                raise VendorError(
                    f"{path}:{node.lineno}: write `from segclassics.x import y` instead of "
                    f"`{ast.unparse(node)}` so that the import can be rewritten"
                )
            parent, leaf = mapping(target).rsplit(".", 1)
            level, mod = (0, parent) if config else _relative(new_module, is_package, parent)
            new = ast.ImportFrom(module=mod or None, names=[ast.alias(leaf, aliases[0].asname)], level=level)
        else:
            new_target = mapping(target)
            level, mod = (0, new_target) if config else _relative(new_module, is_package, new_target)
            new = ast.ImportFrom(module=mod or None, names=node.names, level=level)
        first, last = node.lineno - 1, node.end_lineno - 1
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        trailing = lines[last][node.end_col_offset :]
        edits[first] = (last, indent + ast.unparse(new) + trailing)
    out, i = [], 0
    while i < len(lines):
        if i in edits:
            last, text = edits[i]
            out.append(text if text.endswith("\n") else text + "\n")
            i = last + 1
        else:
            out.append(lines[i])
            i += 1
    return "".join(out)


def registered_names(path: str) -> Dict[str, str]:
    """``{registered name: registry variable}`` for the registrations written in ``path``:
    mmengine's ``register_module`` and detectron2's ``@X_REGISTRY.register()``."""
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    names: Dict[str, str] = {}

    def registration(call: ast.AST) -> Optional[Tuple[str, ast.Call]]:
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and (
                call.func.attr == "register_module"
                or (call.func.attr == "register" and call.func.value.id.endswith("_REGISTRY"))
            )
        ):
            return call.func.value.id, call
        return None

    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            for dec in node.decorator_list:
                found = registration(dec)
                if found:
                    registry, call = found
                    kw = {k.arg: k.value for k in call.keywords}
                    name = kw["name"].value if isinstance(kw.get("name"), ast.Constant) else node.name
                    names[name] = registry
        else:
            found = registration(node)
            if found:
                registry, call = found
                kw = {k.arg: k.value for k in call.keywords}
                if isinstance(kw.get("name"), ast.Constant):
                    names[kw["name"].value] = registry
                elif isinstance(kw.get("module"), ast.Name):
                    names[kw["module"].id] = registry
    return names


def string_constants(path: str) -> Set[str]:
    """Every string literal in ``path`` (to find registry names used in code, e.g. default types)."""
    with open(path) as f:
        return string_constants_of(f.read(), path)


def string_constants_of(source: str, filename: str = "<source>") -> Set[str]:
    tree = ast.parse(source, filename=filename)
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def third_party_imports(paths: Iterable[str]) -> Set[str]:
    """Top-level names of the non-standard-library modules the files import (absolute imports)."""
    import sys

    found: Set[str] = set()
    for path in paths:
        with open(path) as f:
            tree = ast.parse(f.read(), filename=path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {n for n in found if n not in sys.stdlib_module_names and n not in ("__future__", ROOT_PACKAGE)}
