"""The package's import boundaries: each framework adapter imports only its framework."""
from __future__ import annotations

import subprocess
import sys

import pytest


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(proc.stdout.split())


def test_models_are_framework_free():
    mods = imported_after("import segclassics.models, pkgutil, importlib; "
                          "[importlib.import_module('segclassics.models.' + m.name) "
                          "for m in pkgutil.iter_modules(segclassics.models.__path__)]")
    assert not mods & {"mmengine", "mmcv", "mmseg", "mmdet", "detectron2"}


def test_mmseg_adapter_does_not_import_detectron2():
    mods = imported_after("import segclassics.mmseg")
    assert "mmseg" in mods and "detectron2" not in mods


def test_detectron2_adapter_needs_no_openmmlab():
    mods = imported_after("import segclassics.detectron2")
    assert "detectron2" in mods and not mods & {"mmcv", "mmengine", "mmseg", "mmdet"}


def test_mmdet_adapter_does_not_import_detectron2():
    mods = imported_after("import segclassics.mmdet")
    assert "mmdet" in mods and "detectron2" not in mods


def test_every_adapter_file_is_imported_by_its_package(repo_root):
    """A registered file that its package's __init__ forgets would silently not register."""
    for framework in ("mmseg", "mmdet", "detectron2"):
        pkg = repo_root / "plugins" / "segclassics" / framework
        init = (pkg / "__init__.py").read_text()
        for f in pkg.glob("*.py"):
            text = f.read_text()
            if f.name != "__init__.py" and (".register_module(" in text or ".register()" in text):
                assert f"import {f.stem}" in init, f"{f} registers classes but {framework}/__init__.py does not import it"


@pytest.mark.parametrize("registry_import,registry", [
    ("from mmseg.registry import MODELS", "MODELS"),
])
def test_mmseg_registry_has_our_parts(registry_import, registry):
    """After importing segclassics.mmseg, mmseg's registries hold classes defined in segclassics."""
    code = (f"import segclassics.mmseg; {registry_import}; "
            f"print(' '.join(k for k, v in {registry}.module_dict.items() if v.__module__.startswith('segclassics')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(proc.stdout.split()) >= 1
