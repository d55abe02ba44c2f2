"""detectron2's yaml configs read with ``yaml.safe_load`` only.

detectron2's ``CfgNode.merge_from_file`` defaults to ``allow_unsafe=True``: when
``yaml.safe_load`` meets a python tag (``!!python/object/apply:os.system``), fvcore logs a
warning and loads the file again with ``yaml.unsafe_load``, running what the tag names; the
LazyConfig loader reads ``.yaml`` files with ``yaml.unsafe_load`` directly. Importing
``segclassics.detectron2`` makes both read through safe loading only: a python tag is one
refusal naming the file and line (:func:`segclassics.utils.reader.yaml_refusal`), in the file
itself and in every ``_BASE_`` it inherits from; so is a document whose aliases expand without
bound (:func:`segclassics.utils.reader.check_yaml_size`).
"""
from __future__ import annotations

import functools
import os

from detectron2.config import LazyConfig
from fvcore.common.config import CfgNode as FvcoreCfgNode

from segclassics.utils.reader import check_yaml_size, read_yaml, yaml_refusal

_original_load_yaml_with_base = FvcoreCfgNode.load_yaml_with_base.__func__
_original_lazy_load = LazyConfig.load


def _safe_load_yaml_with_base(cls, filename, allow_unsafe: bool = False):
    """fvcore's loader with ``allow_unsafe`` forced off (``_BASE_`` files recurse through here too)."""
    import yaml
    name = filename if isinstance(filename, str) else None
    prechecked = name is not None and os.path.isfile(name)
    if prechecked:
        read_yaml(name)  # tags and alias bombs refused before fvcore builds and merges the file
    try:
        loaded = _original_load_yaml_with_base(cls, filename, allow_unsafe=False)
    except yaml.constructor.ConstructorError as exc:
        refusal = yaml_refusal(exc, name)
        raise (refusal or exc) from None
    # a file fvcore opened through its path handlers (not a local file) is counted after loading
    return loaded if prechecked else check_yaml_size(loaded, name)


@functools.wraps(_original_lazy_load)
def _safe_lazy_load(filename, keys=None):
    if isinstance(filename, str) and filename.endswith((".yaml", ".yml")):
        read_yaml(filename)  # refuses python tags before detectron2's yaml.unsafe_load sees the file
    return _original_lazy_load(filename, keys)


FvcoreCfgNode.load_yaml_with_base = classmethod(_safe_load_yaml_with_base)
LazyConfig.load = staticmethod(_safe_lazy_load)
