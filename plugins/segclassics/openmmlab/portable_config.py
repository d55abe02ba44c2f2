"""The config a segclassics training saves: what the user wrote, rebuildable anywhere.

mmengine writes ``runner.cfg`` into the work dir (``<config>.py``, ``vis_data/config.py``) and
into every checkpoint's ``meta.cfg``; mmseg's/mmdet's ``tools/test.py``, ``MMSegInferencer``,
``DetInferencer`` and mmdet's ``image_demo.py`` rebuild the model from it. So it holds the
user's config (after ``--cfg-options``) plus a ``custom_imports`` of the package that registers
our parts in the config's scope -- and none of the run's own substitutions (checked loaders,
``NonFiniteLossHook``/``RandomStateHook``/``Rank0BuffersHook``, the CPU bf16 optimizer wrapper), which would name
types that only our trainer registers, or hide the ``LoadImageFromFile`` the inferencers look
for.
"""

from __future__ import annotations

import copy

__all__ = ["portable_config"]


def portable_config(cfg):
    """A deep copy of the mmengine ``cfg`` (scope ``mmseg`` or ``mmdet``) whose ``custom_imports``
    includes ``segclassics.<scope>`` (added once, ``allow_failed_imports=False``)."""
    saved = copy.deepcopy(cfg)
    package = f"segclassics.{cfg.get('default_scope')}"
    imports = dict(saved.get("custom_imports", None) or {})
    names = imports.get("imports", [])
    names = [names] if isinstance(names, str) else list(names)
    if package not in names:
        names.append(package)
    imports["imports"] = names
    imports["allow_failed_imports"] = False
    saved.custom_imports = imports
    return saved
