"""Tell an mmengine config (mmseg/mmdet) from a detectron2 config (LazyConfig .py or yaml).

The decision reads the file without executing it:

* ``.yaml``/``.yml``: detectron2's CfgNode yaml (upper-case keys such as ``MODEL:`` or
  ``_BASE_:``); a yaml with ``_target_:`` keys is a LazyConfig saved as ``config.yaml`` by
  detectron2's ``default_setup``; a yaml with lower-case ``model:`` + ``type:`` is an mmengine config.
* ``mmseg::path`` / ``mmdet::path``: a config packaged with that library (mmengine).
* ``.py``: a file that imports ``detectron2`` (``LazyCall``, ``model_zoo`` ...) or
  ``segclassics.detectron2``, or imports another config by a top-level relative import
  (``from .common.x import model``: LazyConfig's way; mmengine's pure-Python configs import
  their bases only inside ``with read_base():``), is a LazyConfig; one with ``_base_``, ``default_scope``,
  ``custom_imports``, ``read_base`` or ``model = dict(...)`` is an mmengine config.
"""

from __future__ import annotations

import ast
import os
import re

from ..errors import UserError

MMENGINE = "mmengine"
D2_LAZY = "detectron2-lazy"
D2_YAML = "detectron2-yaml"


def _example_in(folder: str) -> str:
    """`` in it, e.g. FIRST`` naming the folder's first config file, or ``""`` if it holds none."""
    try:
        names = sorted(
            n
            for n in os.listdir(folder)
            if n.endswith((".py", ".yaml", ".yml")) and not n.startswith(("_", "metafile"))  # model-index files
        )
    except OSError:
        return ""
    return f" in it, e.g. {os.path.join(folder, names[0])}" if names else ""


def detect_config_kind(path: str) -> str:
    if re.match(r"^(mmseg|mmdet|mmpretrain|mmengine)::", path):
        return _packaged_mmengine_config(path)
    if os.path.isdir(path):
        raise UserError(f"{path!r} is a folder; give a config file{_example_in(path)}")
    if not os.path.isfile(path):
        raise UserError(
            f"config not found: {path!r} (give a path to a .py or .yaml config, e.g. configs/unet/unet_synthetic.py)"
        )
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        text = "\0"
    except OSError as exc:  # e.g. no permission to read it
        raise UserError(f"cannot read config {path!r}: {exc.strerror or exc}") from exc
    if "\0" in text:
        raise UserError(
            f"{path!r} is not a text file; a config is a .py (mmengine or detectron2 LazyConfig) or .yaml file"
        )
    if ext in (".yaml", ".yml"):
        if re.search(r"^(_BASE_|MODEL|DATASETS|SOLVER|INPUT)\s*:", text, re.M):
            return D2_YAML
        if re.search(r"^\s*_target_\s*:", text, re.M):  # a LazyConfig saved by default_setup (config.yaml)
            return D2_LAZY
        if re.search(r"^(_base_|model|default_scope)\s*:", text, re.M):
            return MMENGINE
        raise UserError(
            f"{path!r} is neither a detectron2 yaml (MODEL:/_BASE_: keys) nor an mmengine config (model:/_base_: keys)"
        )
    if ext != ".py":
        raise UserError(f"{path!r}: configs are .py (mmengine or detectron2 LazyConfig) or .yaml files")
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as e:
        raise UserError(f"{path}:{e.lineno}: config is not valid Python: {e.msg}") from None
    top_level_relative_import = any(isinstance(node, ast.ImportFrom) and node.level > 0 for node in tree.body)
    imported, assigned = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.Assign):
            assigned.update(t.id for t in node.targets if isinstance(t, ast.Name))
    if top_level_relative_import or any(
        m == "detectron2" or m.startswith(("detectron2.", "segclassics.detectron2")) for m in imported
    ):
        return D2_LAZY
    if assigned & {"_base_", "default_scope", "custom_imports", "model", "train_dataloader"} or any(
        m.startswith("mmengine") for m in imported
    ):
        return MMENGINE
    raise UserError(
        f"{path!r} is neither an mmengine config (no _base_/model/default_scope) nor a detectron2 "
        f"LazyConfig (no detectron2 import)"
    )


def _packaged_mmengine_config(path: str) -> str:
    """``mmseg::fcn/fcn_r50-d8_...py``: a config shipped inside an installed OpenMMLab package."""
    from mmengine.config.utils import _get_package_and_cfg_path
    from mmengine.utils import get_installed_path

    package, relative = _get_package_and_cfg_path(path)
    try:
        full = os.path.join(get_installed_path(package), ".mim", "configs", relative)
    except Exception:  # noqa: BLE001 - package not installed
        raise UserError(f"{path!r}: package {package!r} is not installed") from None
    if not os.path.isfile(full):
        raise UserError(f"{path!r}: no such config in the installed {package} ({full})")
    return MMENGINE
