"""One backend per framework (:mod:`.base`), chosen once from a config's kind.

``backend_for(config_path)`` reads the config's kind without running it
(:func:`segclassics.engine.config_kind.detect_config_kind`) and returns its backend:
mmengine (mmseg/mmdet), detectron2 LazyConfig or detectron2 yaml. The implementations import
their framework lazily, so asking for a backend imports no framework.
"""

from __future__ import annotations

import importlib

from ..config_kind import D2_LAZY, D2_YAML, MMENGINE, detect_config_kind
from .base import Backend

_IMPLEMENTATIONS = {  # kind -> (module, class)
    MMENGINE: (".mmengine", "MMEngineBackend"),
    D2_LAZY: (".detectron2", "Detectron2LazyBackend"),
    D2_YAML: (".detectron2", "Detectron2YamlBackend"),
}
_made: dict = {}


def backend_of_kind(kind: str) -> Backend:
    """The backend running configs of ``kind`` (one instance per kind)."""
    if kind not in _made:
        module, name = _IMPLEMENTATIONS[kind]
        _made[kind] = getattr(importlib.import_module(module, __name__), name)()
    return _made[kind]


def backend_for(config_path: str) -> Backend:
    """The backend of the config at ``config_path`` (a path, ``segclassics::REL`` or
    ``mmseg::``/``mmdet::`` reference)."""
    from ..config_loader import resolve_config_path

    return backend_of_kind(detect_config_kind(resolve_config_path(config_path)))


__all__ = ["Backend", "backend_for", "backend_of_kind"]
