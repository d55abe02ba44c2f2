"""Register COCO-format instance datasets in detectron2, checked by ``segclassics.datasets.coco_checks``.

detectron2's own ``register_coco_instances`` trusts the json: a ``_background_`` category
becomes a thing class, an annotation with an empty mask reaches the mask loss, a missing
image fails inside a dataloader worker. Here the json first goes through
:func:`segclassics.datasets.coco_checks.cleaned_coco_json` (the same function mmdet's
``CheckedCocoDataset`` uses), and detectron2's ``load_coco_json`` reads the cleaned copy.
The cleaned file is also set as the metadata's ``json_file`` so that ``COCOEvaluator``
scores against exactly the annotations that were loaded (bbox and segm AP).

Listing is lazy (runs when a dataloader or evaluator first asks for the data), so
registering inside a config costs nothing and a missing dataset fails with a message
naming the expected path.
"""

from __future__ import annotations

import logging
from typing import Iterable, List, Optional, Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import load_coco_json

from segclassics.datasets.coco_checks import DEFAULT_DROP_CATEGORY_NAMES, cleaned_coco_json
from segclassics.datasets.paths import require_path
from segclassics.datasets.sample_checks import DataError

__all__ = ["register_checked_coco_instances", "load_checked_coco_instances", "checked_coco_evaluator"]

logger = logging.getLogger("segclassics")


def load_checked_coco_instances(
    name: str,
    json_file: str,
    image_root: str,
    *,
    drop_category_names: Iterable[str] = DEFAULT_DROP_CATEGORY_NAMES,
    thing_classes: Optional[Sequence[str]] = None,
    how_to_get: str = "",
) -> List[dict]:
    """Clean ``json_file``, load it as detectron2 dataset dicts and fill ``name``'s metadata.

    Sets ``thing_classes``, ``thing_dataset_id_to_contiguous_id`` (categories sorted by id,
    as detectron2 does), ``json_file`` (the cleaned copy) and ``evaluator_type='coco'``.
    Raises ``ValueError`` if ``thing_classes`` was given and differs from the json's kept
    categories.
    """
    require_path(json_file, name, how_to_get, relocate="")  # how_to_get names the variable that moves it
    require_path(image_root, name, how_to_get, relocate="")
    clean_path, report = cleaned_coco_json(json_file, image_root, drop_category_names=drop_category_names)
    if thing_classes is not None and list(thing_classes) != report.thing_classes:
        raise DataError(
            f"{name}: the config says thing_classes={list(thing_classes)} but {json_file!r} "
            f"has categories {report.thing_classes} (sorted by id, after dropping "
            f"{list(drop_category_names)}); make them agree"
        )
    meta = MetadataCatalog.get(name)
    dicts = load_coco_json(clean_path, image_root, name)  # sets thing_classes + id map
    if getattr(meta, "json_file", None) != clean_path:
        # set once per process; MetadataCatalog refuses to overwrite a different value
        meta.__dict__["json_file"] = clean_path
    return dicts


def register_checked_coco_instances(
    name: str,
    json_file: str,
    image_root: str,
    *,
    thing_classes: Optional[Sequence[str]] = None,
    drop_category_names: Iterable[str] = DEFAULT_DROP_CATEGORY_NAMES,
    how_to_get: str = "",
    root_variable: Optional[str] = None,
) -> str:
    """Register (or re-register) a COCO instances json as detectron2 dataset ``name``.

    Args:
        name: catalog name, e.g. ``'isbi2012_cells_train'``.
        json_file: COCO instances json (polygons or RLE).
        image_root: folder that ``images[*].file_name`` is relative to.
        thing_classes: expected class names in category-id order (after dropping); given
            here, they are in the metadata before the data is listed (models and
            visualisers can read them) and are checked against the json when it is read.
        drop_category_names: categories removed at load time (default ``('_background_',)``).
        how_to_get: hint shown if the json or image folder is missing.
        root_variable: the environment variable that moves a dataset registered at import
            (metadata ``root_variable``).

    Returns:
        ``name``.
    """
    drop = tuple(drop_category_names or ())

    def load() -> List[dict]:
        return load_checked_coco_instances(
            name, json_file, image_root, drop_category_names=drop, thing_classes=thing_classes, how_to_get=how_to_get
        )

    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, load)
    meta = dict(image_root=image_root, evaluator_type="coco", source_json_file=json_file)
    if thing_classes is not None:
        meta["thing_classes"] = list(thing_classes)
    if root_variable is not None:
        meta["root_variable"] = root_variable
    MetadataCatalog.get(name).set(**meta)
    return name


def checked_coco_evaluator(dataset_name: str, tasks=("bbox", "segm"), output_dir: Optional[str] = None, **kwargs):
    """``COCOEvaluator`` scoring against the *cleaned* json of a checked dataset.

    Lists the dataset first (which writes the cleaned json and sets the metadata's
    ``json_file``), so the ground truth is exactly what was loaded, whatever order a
    trainer builds the loader and the evaluator in. ``kwargs`` go to ``COCOEvaluator``.
    """
    from detectron2.evaluation import COCOEvaluator

    DatasetCatalog.get(dataset_name)
    return COCOEvaluator(dataset_name, tasks=tuple(tasks), output_dir=output_dir, **kwargs)
