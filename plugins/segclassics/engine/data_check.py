"""Data checks of a run, set up before it starts (tools/train.py, tools/test.py).

* ``check_mmengine_data``: the datasets a config reads exist and are not empty. Without it a
  missing dataset surfaces as a traceback deep inside a dataset's ``load_data_list``, and an
  empty mmseg split as numpy's "need at least one array to concatenate". Each known dataset
  type gets a hint saying how to obtain it; our own dataset classes may carry a ``how_to_get``
  string, and self-generating datasets (the synthetic default) set ``generates_itself = True``
  (they check their root themselves).
* ``add_sample_checks`` (mmengine configs) and ``add_detectron2_sample_checks`` (LazyConfigs):
  swap the frameworks' loaders for the checked ones (``CheckedLoadImageFromFile``,
  ``CheckedLoadAnnotations``, ``CheckedDatasetMapper``), which check every sample as it is read
  (sizes, label values, decoding; :mod:`segclassics.datasets.sample_checks`). A pipeline that
  already names a checked loader, or another loader, is left as it is.
* ``check_mmengine_input_channels``: the channels a loader's images reach the model with (the
  loader's ``color_type``, then the data preprocessor's normalisation, which broadcasts a one-channel
  image against a 3-value ``mean``) against the backbone's ``in_channels``. A mismatch otherwise
  stops the first iteration with the backbone's or torch's shape error, a traceback.
  detectron2 configs have the same check, and their class-count check, in
  :mod:`segclassics.detectron2.run_checks`, which ``python -m segclassics.detectron2.train_net``
  runs too.
"""

from __future__ import annotations

import importlib
import os
from typing import Iterable, Optional

from segclassics.datasets.input_channels import broadcast_channels
from segclassics.datasets.paths import DatasetNotFoundError
from segclassics.datasets.sample_checks import check_split_not_empty

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


def _scope_task(scope) -> Optional[str]:
    """'semantic' (mmseg), 'instance' (mmdet) or None (a scope segclassics does not run)."""
    from .backends.mmengine import TASKS

    return TASKS.get(scope)


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
            name = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "dataset")
            for path in paths:
                if not os.path.exists(path):
                    hint = getattr(cls, "how_to_get", None) or HINTS.get(name, "")
                    raise DatasetNotFoundError(
                        f"{name} ({loader}) expects {os.path.abspath(path)!r}, which does not exist. "
                        + (f"{hint} Or set" if hint else "Set")
                        + f" its location: --cfg-options data_root=PATH (every dataloader) or "
                        f"--cfg-options {loader}.dataset.data_root=PATH (this one)"
                    )
            if _scope_task(scope) == "semantic":  # mmseg
                _check_seg_split(ds, scope, f"{name} ({loader})")


def _check_seg_split(ds_cfg, scope: str, label: str) -> None:
    """Raise ``DataError`` if an mmseg dataset lists no sample (mmengine would fail building it
    with numpy's "need at least one array to concatenate"). Lists the files as the dataset
    will (``load_data_list``), without loading them."""
    from mmengine.registry import DATASETS

    cfg = dict(ds_cfg, lazy_init=True, pipeline=[])
    with DATASETS.switch_scope_and_registry(scope) as registry:
        dataset = registry.build(cfg)
    count = len(dataset.load_data_list())
    if dataset.ann_file:
        where, expected = repr(dataset.ann_file), "a list of image names"
    else:
        where = repr(dataset.data_prefix.get("img_path", dataset.data_root))
        expected = f"'*{getattr(dataset, 'img_suffix', '')}' images"
    check_split_not_empty(count, label, where, expected)


# ----------------------------------------------------------------------------- per-sample checks

_MMENGINE_LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")


def _num_classes(ds_cfg, scope: str) -> Optional[int]:
    classes = (ds_cfg.get("metainfo") or {}).get("classes")
    if classes is None:
        cls = _registered_class(ds_cfg.get("type"), scope)
        classes = (getattr(cls, "METAINFO", None) or {}).get("classes")
    return len(classes) if classes else None


def add_sample_checks(cfg) -> int:
    """Swap ``LoadImageFromFile`` for ``CheckedLoadImageFromFile`` (mmseg and mmdet) and mmseg's
    ``LoadAnnotations`` for ``CheckedLoadAnnotations`` (with the dataset's class count and
    ignore index) in the pipelines of ``cfg``'s train/val/test datasets; returns how many
    transforms were swapped. Their arguments are kept."""
    scope = cfg.get("default_scope", None)
    task = _scope_task(scope)
    if task is None:
        return 0
    importlib.import_module(f"segclassics.{scope}")  # registers the checked loaders (mmseg:: configs do not)
    swapped = 0
    for loader in _MMENGINE_LOADERS:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for ds in _datasets(loader_cfg.get("dataset")):
            num_classes = _num_classes(ds, scope) if task == "semantic" else None
            for transform in ds.get("pipeline") or []:
                if not hasattr(transform, "get"):
                    continue
                if transform.get("type") == "LoadImageFromFile":
                    transform["type"] = "CheckedLoadImageFromFile"
                    swapped += 1
                elif task == "semantic" and transform.get("type") == "LoadAnnotations":  # mmseg's
                    transform["type"] = "CheckedLoadAnnotations"
                    transform["num_classes"] = num_classes
                    transform["ignore_index"] = ds.get("ignore_index", 255)
                    swapped += 1
    return swapped


def add_detectron2_sample_checks(cfg) -> int:
    """In a LazyConfig, swap the train/test loaders' ``DatasetMapper`` for ``CheckedDatasetMapper``
    with the loader's dataset names (for the classes and ignore label); returns how many."""
    from detectron2.data import DatasetMapper
    from detectron2.utils.registry import locate

    from segclassics.detectron2.checked_dataset_mapper import CheckedDatasetMapper

    swapped = 0
    loaders = cfg.get("dataloader", None) or {}
    for split in ("train", "test"):
        loader = loaders.get(split, None)
        mapper = loader.get("mapper", None) if loader is not None else None
        if mapper is None or "_target_" not in mapper:
            continue
        target = mapper["_target_"]
        if (locate(target) if isinstance(target, str) else target) is not DatasetMapper:
            continue
        dataset = loader.get("dataset", None) or {}
        names = dataset.get("names", None) or dataset.get("name", None) or ()
        mapper["_target_"] = CheckedDatasetMapper
        mapper["dataset_names"] = [names] if isinstance(names, str) else list(names)
        swapped += 1
    return swapped


# ----------------------------------------------------------------------------- class counts


def _mm_heads(model_cfg) -> dict:
    """``{option: num_classes}`` of an mmseg/mmdet model config's heads."""
    heads = {}
    for name in ("decode_head", "auxiliary_head"):
        head = model_cfg.get(name)
        for i, part in enumerate(head if isinstance(head, (list, tuple)) else [head] if head else []):
            if isinstance(part, dict) and isinstance(part.get("num_classes"), int):
                heads[f"model.{name}" + (f".{i}" if isinstance(head, (list, tuple)) else "") + ".num_classes"] = part[
                    "num_classes"
                ]
    roi = model_cfg.get("roi_head") or {}
    for name in ("bbox_head", "mask_head"):
        head = roi.get(name) if isinstance(roi, dict) else None
        if isinstance(head, dict) and isinstance(head.get("num_classes"), int):
            heads[f"model.roi_head.{name}.num_classes"] = head["num_classes"]
    return heads


def check_mmengine_class_counts(cfg, config: str) -> None:
    """The heads of an mmseg/mmdet config against the classes of each of its training datasets
    (its ``metainfo`` or, without one, its class's ``METAINFO``; every part of a concatenation,
    which mmengine's ``ConcatDataset`` trains as one class list)."""
    from segclassics.datasets.class_counts import check_class_counts

    heads = _mm_heads(cfg.model)
    for dataset in _datasets(cfg.get("train_dataloader", {}).get("dataset")):
        classes = (dataset.get("metainfo") or {}).get("classes")
        if classes is None:
            cls = _registered_class(dataset.get("type"), cfg.get("default_scope"))
            classes = (getattr(cls, "METAINFO", None) or {}).get("classes")
        if classes:
            check_class_counts(heads, list(classes), f"{dataset.get('type')}", config)


# ----------------------------------------------------------------------------- input channels

#: mmcv's ``LoadImageFromFile`` colour types -> channels of the decoded image ('unchanged': the file's)
_COLOR_TYPE_CHANNELS = {
    "color": 3,
    "color_ignore_orientation": 3,
    "grayscale": 1,
    "grayscale_ignore_orientation": 1,
}
_IMAGE_LOADERS = ("LoadImageFromFile", "CheckedLoadImageFromFile")


def _loaded_channels(pipeline) -> Optional[tuple]:
    """(channels, the loader's colour type) of the first image loader of ``pipeline``; None when the
    pipeline has none or its images keep the file's channels."""
    for transform in pipeline or []:
        if hasattr(transform, "get") and transform.get("type") in _IMAGE_LOADERS:
            color_type = transform.get("color_type", "color")
            channels = _COLOR_TYPE_CHANNELS.get(color_type)
            return (channels, color_type) if channels else None
    return None


def check_mmengine_input_channels(cfg, config: str, loaders: Iterable[str]) -> None:
    """Raise :class:`DataError` when the images of one of ``loaders`` reach ``cfg``'s model with
    another channel count than ``model.backbone.in_channels`` (when the config sets it), or cannot be
    normalised by ``model.data_preprocessor``'s ``mean`` and ``std`` at all."""
    from segclassics.datasets.sample_checks import DataError

    model = cfg.get("model") or {}
    backbone = model.get("backbone") or {}
    in_channels = backbone.get("in_channels") if hasattr(backbone, "get") else None
    preprocessor = model.get("data_preprocessor") or {}
    mean, std = preprocessor.get("mean"), preprocessor.get("std")
    # mmseg / mmengine normalise only with both; the image, mean and std then broadcast together
    vectors = [len(mean), len(std)] if isinstance(mean, (list, tuple)) and isinstance(std, (list, tuple)) else []
    for loader in loaders:
        for ds in _datasets((cfg.get(loader) or {}).get("dataset")):
            found = _loaded_channels(ds.get("pipeline"))
            if found is None:
                continue
            channels, color_type = found
            reads = f"{loader} reads {channels}-channel images (LoadImageFromFile color_type={color_type!r})"
            reaching = broadcast_channels(channels, *vectors)
            if reaching is None:
                raise DataError(
                    f"{config}: model.data_preprocessor.mean and std have {vectors[0]} and {vectors[1]} values but "
                    f"{reads}; give {channels} values (or one) in each, or load the images with as many channels"
                )
            if isinstance(in_channels, int) and not isinstance(in_channels, bool) and in_channels != reaching:
                normalised = (
                    f", normalised by model.data_preprocessor's mean and std into {reaching}"
                    if reaching != channels
                    else ""
                )
                raise DataError(
                    f"{config}: model.backbone.in_channels is {in_channels} but {reads}{normalised}; set "
                    f"model.backbone.in_channels={reaching}, or load the images with the channels the model takes"
                )
