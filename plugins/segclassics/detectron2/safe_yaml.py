"""detectron2's yaml configs read with ``yaml.safe_load`` only.

detectron2's ``CfgNode.merge_from_file`` defaults to ``allow_unsafe=True``: when
``yaml.safe_load`` meets a python tag (``!!python/object/apply:os.system``), fvcore logs a
warning and loads the file again with ``yaml.unsafe_load``, running what the tag names; the
LazyConfig loader reads ``.yaml`` files with ``yaml.unsafe_load`` directly. Importing
``segclassics.detectron2`` makes both read through safe loading only: a python tag is one
refusal naming the file and line (:func:`segclassics.utils.reader.yaml_refusal`), in the file
itself and in every ``_BASE_`` it inherits from; so is a document whose aliases expand without
bound (:func:`segclassics.utils.reader.check_yaml_size`).

What is refused is not written either: ``LazyConfig.save`` (``default_setup``'s ``config.yaml``)
writes each ``ShapeSpec`` value (detectron2's model-zoo Mask R-CNN heads hold them) as the
``LazyCall`` that builds it, so the saved config of a run loads and runs again.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os

from detectron2.config import LazyConfig
from fvcore.common.config import CfgNode as FvcoreCfgNode

from segclassics.utils.reader import check_yaml_size, read_yaml, yaml_refusal

_original_load_yaml_with_base = FvcoreCfgNode.load_yaml_with_base.__func__
_original_lazy_load = LazyConfig.load
_original_lazy_save = LazyConfig.save


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


def _shape_specs_as_calls(node) -> None:
    """Replace, in place, every ``ShapeSpec`` in a LazyConfig by ``LazyCall(ShapeSpec)(**fields)``."""
    from detectron2.config import LazyCall
    from detectron2.layers import ShapeSpec
    from omegaconf import DictConfig, ListConfig, OmegaConf

    for key in list(node.keys()) if isinstance(node, DictConfig) else range(len(node)):
        if OmegaConf.is_interpolation(node, key):
            continue
        value = node[key]
        if isinstance(value, DictConfig) and OmegaConf.get_type(value) is ShapeSpec:  # a structured config
            node[key] = LazyCall(ShapeSpec)(**OmegaConf.to_container(value))
        elif isinstance(value, ShapeSpec):
            node[key] = LazyCall(ShapeSpec)(**dataclasses.asdict(value))
        elif isinstance(value, (DictConfig, ListConfig)):
            _shape_specs_as_calls(value)


@functools.wraps(_original_lazy_save)
def _portable_lazy_save(cfg, filename: str):
    try:
        cfg = copy.deepcopy(cfg)  # the caller's config keeps its objects
    except Exception:  # noqa: BLE001 - detectron2's save copes with configs that cannot be copied
        return _original_lazy_save(cfg, filename)
    _shape_specs_as_calls(cfg)
    return _original_lazy_save(cfg, filename)


FvcoreCfgNode.load_yaml_with_base = classmethod(_safe_load_yaml_with_base)
LazyConfig.load = staticmethod(_safe_lazy_load)
LazyConfig.save = staticmethod(_portable_lazy_save)
