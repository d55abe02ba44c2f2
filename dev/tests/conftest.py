"""The developer tools' tests share the fixtures of tests/conftest.py (``repo_root``,
``shared_data`` and the autouse reset of mmengine's default scope); loaded from its path under
its own module name, so that ``pytest tests dev/tests`` does not mix the two ``conftest`` modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "segclassics_tests_conftest", Path(__file__).resolve().parents[2] / "tests" / "conftest.py"
)
_suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_suite)

repo_root = _suite.repo_root
shared_data = _suite.shared_data
_restore_mmengine_default_scope = _suite._restore_mmengine_default_scope
