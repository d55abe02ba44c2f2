"""Checks of a detectron2 config before a run, shared by every entry that trains or tests one
(``tools/train.py`` / ``tools/test.py`` through the engine's detectron2 backends, and
``python -m segclassics.detectron2.train_net``), so that a mismatch is one line naming the file
instead of a shape error at the first iteration.

* :func:`check_input_channels`: ``INPUT.FORMAT`` / a mapper's ``image_format`` against
  ``PIXEL_MEAN`` / ``PIXEL_STD`` (detectron2 normalises with ``(image - pixel_mean) / pixel_std``;
  a yaml config's backbone is built with ``len(PIXEL_MEAN)`` input channels).
* :func:`check_class_counts`: the heads' ``num_classes`` against the classes in the metadata of
  every training dataset.

``lazy`` says whether ``cfg`` is a LazyConfig (lower-case keys) or a yaml ``CfgNode``.
"""

from __future__ import annotations

from typing import Iterable

from detectron2.data import MetadataCatalog

from segclassics.datasets.class_counts import check_class_counts as _check_counts
from segclassics.datasets.input_channels import broadcast_channels
from segclassics.datasets.sample_checks import DataError

__all__ = ["check_class_counts", "check_input_channels", "check_run"]


def check_run(cfg, lazy: bool, config: str, loaders: Iterable[str]) -> None:
    """Every check of a run that reads ``loaders`` (``"train"``, ``"test"``): the input channels of
    each, and the class counts when it trains."""
    loaders = list(loaders)
    check_input_channels(cfg, lazy, config, loaders)
    if "train" in loaders:
        check_class_counts(cfg, lazy, config)


def check_class_counts(cfg, lazy: bool, config: str) -> None:
    """The heads of a detectron2 config against the metadata of each of its training datasets."""
    if lazy:
        dataset = cfg.dataloader.train.get("dataset", {})
        names = dataset.get("names", dataset.get("name"))
        model = cfg.model
        heads = {
            "model.sem_seg_head.num_classes": model.get("sem_seg_head", {}).get("num_classes"),
            "model.roi_heads.num_classes": model.get("roi_heads", {}).get("num_classes"),
        }
    else:
        names = list(cfg.DATASETS.TRAIN)
        rcnn = cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN"
        heads = {
            "MODEL.SEM_SEG_HEAD.NUM_CLASSES": None if rcnn else cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "MODEL.ROI_HEADS.NUM_CLASSES": cfg.MODEL.ROI_HEADS.NUM_CLASSES if rcnn else None,
        }
    for name in [names] if isinstance(names, str) else list(names or ()):  # every training dataset
        meta = MetadataCatalog.get(name)
        for option, count in heads.items():
            key = "stuff_classes" if "sem_seg" in option.lower() else "thing_classes"
            classes = getattr(meta, key, None) if key in meta.as_dict() else None
            if isinstance(count, int) and classes:
                _check_counts({option: count}, list(classes), name, config)


def _format_channels(image_format) -> int:
    """Channels of detectron2's ``read_image(format=...)``: 'L' one, the others ('BGR', 'RGB', YUV) three."""
    return 1 if image_format == "L" else 3


def check_input_channels(cfg, lazy: bool, config: str, loaders: Iterable[str]) -> None:
    """Raise :class:`DataError` when detectron2's normalisation ``(image - pixel_mean) / pixel_std``
    cannot take the images ``loaders`` read, or (yaml: the backbone is built with
    ``len(MODEL.PIXEL_MEAN)`` input channels) gives the backbone another channel count."""
    if lazy:
        model = cfg.get("model", None) or {}
        mean, std = model.get("pixel_mean", None), model.get("pixel_std", None)
        mean_key, std_key = "model.pixel_mean", "model.pixel_std"
        formats = {}
        for split in loaders:
            mapper = ((cfg.get("dataloader", None) or {}).get(split, None) or {}).get("mapper", None) or {}
            image_format = mapper.get("image_format", None)
            if image_format is not None:
                formats[f"dataloader.{split}.mapper.image_format"] = image_format
    else:
        mean, std = cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD
        mean_key, std_key = "MODEL.PIXEL_MEAN", "MODEL.PIXEL_STD"
        formats = {"INPUT.FORMAT": cfg.INPUT.FORMAT}
    if mean is None or std is None:
        return
    values = len(mean)
    count = lambda n: f"{n} value" + ("" if n == 1 else "s")  # noqa: E731
    if len(std) != values:
        raise DataError(
            f"{config}: {std_key} has {count(len(std))} but {mean_key} has {values}; give both the same number"
        )
    for key, image_format in formats.items():
        channels = _format_channels(image_format)
        reaching = broadcast_channels(channels, values)
        if reaching is not None and (lazy or reaching == values):
            continue  # a lazy backbone states its channels itself; a yaml one takes len(PIXEL_MEAN)
        raise DataError(
            f"{config}: {mean_key} has {count(values)}"
            + ("" if lazy else " (the backbone's input channels)")
            + f" but {key} {image_format!r} reads {channels}-channel images; give {channels} values in "
            f"{mean_key} and {std_key}" + (f", or set {key}=L to read one-channel images" if values == 1 else "")
        )
