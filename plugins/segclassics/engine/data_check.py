"""Check, before a run starts, that the datasets a config reads exist.

Without this, a missing dataset surfaces as a traceback deep inside a dataset's
``load_data_list``. Each known dataset type gets a hint saying how to obtain it; our own
dataset classes may carry a ``how_to_get`` string, and self-generating datasets (the
synthetic default) set ``generates_itself = True``.
"""
from __future__ import annotations

import os
from typing import Iterable

from segclassics.datasets.paths import DatasetNotFoundError

# Hints for the frameworks' own dataset types our configs use.
HINTS = {
    "ADE20KDataset": "Download ADEChallengeData2016.zip (ADE20K scene parsing, "
                     "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip) and unzip it "
                     "so that data/ade/ADEChallengeData2016/{images,annotations}/{training,validation} exist "
                     "(see mmseg's docs/en/user_guides/2_dataset_prepare.md).",
    "PascalVOCDataset": "Get VOC2012 (+ SBD for aug) and run mmseg's tools/dataset_converters/voc_aug.py "
                        "so that data/VOCdevkit/VOC2012/{JPEGImages,SegmentationClassAug,ImageSets} exist.",
    "CocoDataset": "Get COCO 2017 so that data/coco/{train2017,val2017,annotations} exist.",
}


def _datasets(ds_cfg) -> Iterable[dict]:
    """Yield leaf dataset configs (unwrapping Concat/Repeat/ClassBalanced wrappers)."""
    if ds_cfg is None:
        return
    if isinstance(ds_cfg, (list, tuple)):
        for d in ds_cfg:
            yield from _datasets(d)
        return
    if "datasets" in ds_cfg:
        yield from _datasets(ds_cfg["datasets"])
    elif "dataset" in ds_cfg:
        yield from _datasets(ds_cfg["dataset"])
    else:
        yield ds_cfg


def _registered_class(type_name, scope):
    try:
        from mmengine.registry import DATASETS
        if not isinstance(type_name, str):
            return type_name
        with DATASETS.switch_scope_and_registry(scope) as registry:
            return registry.get(type_name)
    except Exception:  # noqa: BLE001 - only used to find a hint
        return None


def check_mmengine_data(cfg, loaders: Iterable[str]) -> None:
    """Raise ``DatasetNotFoundError`` naming the first missing dataset path of ``loaders``."""
    scope = cfg.get("default_scope", None)
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for ds in _datasets(loader_cfg.get("dataset")):
            type_name = ds.get("type")
            cls = _registered_class(type_name, scope)
            if cls is not None and getattr(cls, "generates_itself", False):
                continue
            root = ds.get("data_root", "") or ""
            paths = []
            prefix = ds.get("data_prefix", {}) or {}
            for key in ("img_path", "img", "seg_map_path"):
                if prefix.get(key):
                    paths.append(os.path.join(root, prefix[key]))
            if ds.get("ann_file"):
                paths.append(os.path.join(root, ds["ann_file"]))
            if not paths and root:
                paths.append(root)
            for path in paths:
                if not os.path.exists(path):
                    name = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "dataset")
                    hint = getattr(cls, "how_to_get", None) or HINTS.get(name, "")
                    raise DatasetNotFoundError(
                        f"{name} ({loader}) expects {os.path.abspath(path)!r}, which does not exist. "
                        f"{hint} Or set its location: --cfg-options {loader}.dataset.data_root=PATH")
