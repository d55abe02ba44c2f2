"""Validate and clean COCO-format instance annotations before any framework sees them.

Framework-free (json, numpy, pycocotools): the MMDetection dataset
(``segclassics.mmdet.coco_checked_dataset.CheckedCocoDataset``) and the detectron2
registration helper (``segclassics.detectron2.coco_instances.register_checked_coco_instances``)
both call :func:`clean_coco`, so the two frameworks train and evaluate on the same set of
annotations.

What is checked (Mask R-CNN, He et al. 2017, trains L = L_cls + L_box + L_mask on every
kept instance; an instance with an empty mask or a zero-size box gives a NaN/inf box target
or an all-zero mask target, so such annotations are removed here, with a logged count, not
found later as a NaN deep in a loss):

* categories whose name is in ``drop_category_names`` (default ``('_background_',)``, as
  written by labelme's ``labelme2coco``) are removed, and so are their annotations;
* annotations whose ``category_id`` is not in ``categories`` -> skipped, counted;
* annotations whose ``image_id`` is not in ``images`` -> skipped, counted;
* boxes that are missing, non-finite or have width/height < ``min_box_size`` -> skipped;
* masks: polygons with fewer than 3 points are dropped from the list; an annotation left
  without a valid polygon, or whose RLE / polygon covers no pixel -> skipped, counted
  (``require_masks=False`` keeps annotations without ``segmentation``, for box-only data);
* images listed in ``images`` whose file does not exist under ``image_root`` -> a
  ``FileNotFoundError`` naming how many and the first few paths (never a silent skip: a
  wrong ``image_root`` would otherwise train on nothing).

The cleaned result is a plain COCO dict (same schema as the input), so each framework's
own COCO machinery (pycocotools ``COCO``, mmdet ``CocoDataset``, detectron2's evaluator)
reads it unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from segclassics.errors import MissingFileError

from .sample_checks import DataError

__all__ = [
    "CocoCleanReport",
    "clean_coco",
    "load_coco_json",
    "cleaned_coco_json",
    "polygon_area_ok",
    "DEFAULT_DROP_CATEGORY_NAMES",
]

logger = logging.getLogger("segclassics")

#: category names treated as "not a thing class" (labelme2coco writes ``_background_`` id 0)
DEFAULT_DROP_CATEGORY_NAMES: Tuple[str, ...] = ("_background_",)


@dataclass
class CocoCleanReport:
    """Counts of what :func:`clean_coco` removed (all zero for a clean file)."""

    source: str = "<dict>"
    num_images: int = 0
    num_annotations_in: int = 0
    num_annotations_kept: int = 0
    dropped_categories: List[str] = field(default_factory=list)
    skipped_dropped_category: int = 0  # annotation of a dropped category (e.g. _background_)
    skipped_unknown_category: int = 0  # category_id not listed in `categories`
    skipped_unknown_image: int = 0  # image_id not listed in `images`
    skipped_bad_box: int = 0  # missing / non-finite / w or h < min_box_size
    skipped_empty_mask: int = 0  # no segmentation, no valid polygon, or RLE with 0 pixels
    dropped_polygons: int = 0  # polygons with < 3 points removed from kept annotations
    thing_classes: List[str] = field(default_factory=list)  # kept category names, sorted by id

    @property
    def num_skipped(self) -> int:
        return self.num_annotations_in - self.num_annotations_kept

    def summary(self) -> str:
        parts = [
            f"{self.source}: kept {self.num_annotations_kept}/{self.num_annotations_in} annotations "
            f"on {self.num_images} images"
        ]
        for name, n in [
            ("of dropped categories " + str(self.dropped_categories), self.skipped_dropped_category),
            ("with category_id missing from categories", self.skipped_unknown_category),
            ("with image_id missing from images", self.skipped_unknown_image),
            ("with an empty/degenerate box", self.skipped_bad_box),
            ("with an empty/degenerate mask", self.skipped_empty_mask),
        ]:
            if n:
                parts.append(f"skipped {n} {name}")
        if self.dropped_polygons:
            parts.append(f"removed {self.dropped_polygons} polygons with < 3 points")
        return "; ".join(parts)


def load_coco_json(path: str) -> dict:
    """Read a COCO json file, raising a clear error if it is missing or not COCO-shaped."""
    if not os.path.isfile(path):
        raise MissingFileError(
            f"COCO annotation file not found: {os.path.abspath(path)!r} "
            f'(expected a json with "images", "annotations", "categories")'
        )
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise DataError(f"{path!r} is not valid json: {e}") from e
    _check_schema(data, path)
    return data


def _check_schema(data, source: str) -> None:
    if not isinstance(data, dict):
        raise DataError(f"{source}: a COCO file must hold a json object, got {type(data).__name__}")
    missing = [k for k in ("images", "categories") if k not in data]
    if missing:
        raise DataError(
            f"{source}: not a COCO instances file, missing keys {missing} "
            f'(expected "images", "annotations", "categories")'
        )
    for img in data["images"]:
        for k in ("id", "file_name", "height", "width"):
            if k not in img:
                raise DataError(
                    f"{source}: image entry {img!r} lacks {k!r} (every image needs id, file_name, height, width)"
                )


def polygon_area_ok(poly: Sequence[float]) -> bool:
    """True if a flat ``[x1, y1, x2, y2, ...]`` polygon has >= 3 finite points and non-zero area."""
    if len(poly) < 6 or len(poly) % 2:
        return False
    xs, ys = poly[0::2], poly[1::2]
    if not all(math.isfinite(v) for v in poly):
        return False
    # shoelace formula
    area2 = sum(xs[i] * ys[(i + 1) % len(xs)] - xs[(i + 1) % len(xs)] * ys[i] for i in range(len(xs)))
    return abs(area2) > 0


def _rle_pixels(seg: dict, height: int, width: int) -> int:
    from pycocotools import mask as mask_util

    rle = seg
    if isinstance(seg.get("counts"), list):  # uncompressed RLE
        size = seg.get("size") or [height, width]
        rle = mask_util.frPyObjects(seg, size[0], size[1])
    return int(mask_util.area(rle))


def _valid_box(bbox, min_box_size: float) -> bool:
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return False
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return False
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return False
    return w >= min_box_size and h >= min_box_size


def clean_coco(
    data: dict | str,
    image_root: Optional[str] = None,
    *,
    drop_category_names: Iterable[str] = DEFAULT_DROP_CATEGORY_NAMES,
    require_masks: bool = True,
    min_box_size: float = 1.0,
    check_images: bool = True,
    max_missing_listed: int = 5,
    log: bool = True,
) -> Tuple[dict, CocoCleanReport]:
    """Return ``(cleaned_coco_dict, report)``; see the module docstring for the checks.

    Args:
        data: a COCO dict or the path of a COCO json file.
        image_root: folder that ``images[*].file_name`` is relative to (absolute file names are
            used as they are). Needed when ``check_images`` is True.
        drop_category_names: category names removed with their annotations (``()`` keeps all).
        require_masks: skip annotations without a usable mask (True for Mask R-CNN).
        min_box_size: smallest accepted box width/height in pixels.
        check_images: raise ``FileNotFoundError`` if any listed image file is absent.
        log: log the report's summary at INFO (WARNING when something was skipped).

    Returns:
        A deep-copied COCO dict with only the kept categories/annotations (image list unchanged,
        category ids unchanged) and a :class:`CocoCleanReport`.
    """
    source = "<dict>"
    if isinstance(data, str):
        source = data
        data = load_coco_json(data)
    else:
        _check_schema(data, source)
    report = CocoCleanReport(source=source)
    drop = set(drop_category_names or ())

    images = data["images"]
    report.num_images = len(images)
    if not images:
        raise DataError(
            f"{source}: the annotation file lists no image (an empty split); check the "
            f"data root and the annotation file of this split"
        )
    if check_images:
        if image_root is None:
            raise ValueError(
                "clean_coco(check_images=True) needs image_root, the folder that images[*].file_name is relative to"
            )
        missing = [
            os.path.join(image_root, im["file_name"])
            for im in images
            if not os.path.isfile(os.path.join(image_root, im["file_name"]))
        ]
        if missing:
            shown = ", ".join(repr(p) for p in missing[:max_missing_listed])
            raise MissingFileError(
                f"{source}: {len(missing)} of {len(images)} images listed in the annotations do not exist "
                f"under image_root={os.path.abspath(image_root)!r}, e.g. {shown}. file_name must be relative "
                f"to image_root (check the config's data_root / data_prefix / image_root)."
            )

    cats_in = data["categories"]
    kept_cats = [c for c in cats_in if c.get("name") not in drop]
    report.dropped_categories = [c.get("name") for c in cats_in if c.get("name") in drop]
    if not kept_cats:
        raise DataError(
            f"{source}: no categories left after dropping {sorted(drop)} "
            f"(categories: {[c.get('name') for c in cats_in]})"
        )
    kept_cat_ids = {c["id"] for c in kept_cats}
    report.thing_classes = [c.get("name") for c in sorted(kept_cats, key=lambda c: c["id"])]
    dropped_cat_ids = {c["id"] for c in cats_in} - kept_cat_ids
    img_by_id: Dict[int, dict] = {im["id"]: im for im in images}

    anns_out = []
    anns_in = data.get("annotations", [])
    report.num_annotations_in = len(anns_in)
    for ann in anns_in:
        cid = ann.get("category_id")
        if cid in dropped_cat_ids:
            report.skipped_dropped_category += 1
            continue
        if cid not in kept_cat_ids:
            report.skipped_unknown_category += 1
            continue
        img = img_by_id.get(ann.get("image_id"))
        if img is None:
            report.skipped_unknown_image += 1
            continue
        if not _valid_box(ann.get("bbox"), min_box_size):
            report.skipped_bad_box += 1
            continue
        seg = ann.get("segmentation")
        new_ann = ann
        if require_masks or seg:
            if isinstance(seg, list):
                good = [p for p in seg if isinstance(p, (list, tuple)) and polygon_area_ok(p)]
                if not good:
                    report.skipped_empty_mask += 1
                    continue
                if len(good) != len(seg):
                    report.dropped_polygons += len(seg) - len(good)
                    new_ann = dict(ann, segmentation=good)
            elif isinstance(seg, dict) and "counts" in seg:
                try:
                    pixels = _rle_pixels(seg, img["height"], img["width"])
                except Exception:  # malformed RLE
                    pixels = 0
                if pixels == 0:
                    report.skipped_empty_mask += 1
                    continue
            else:
                report.skipped_empty_mask += 1
                continue
        anns_out.append(copy.deepcopy(new_ann))
    report.num_annotations_kept = len(anns_out)

    out = {k: copy.deepcopy(v) for k, v in data.items() if k not in ("annotations", "categories")}
    out["categories"] = copy.deepcopy(kept_cats)
    out["annotations"] = anns_out
    if log:
        logger.log(logging.WARNING if report.num_skipped else logging.INFO, "%s", report.summary())
    return out, report


def default_cache_dir() -> str:
    return os.environ.get(
        "SEGCLASSICS_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "segclassics", "coco_checked")
    )


def cleaned_coco_json(
    json_file: str,
    image_root: Optional[str] = None,
    *,
    drop_category_names: Iterable[str] = DEFAULT_DROP_CATEGORY_NAMES,
    require_masks: bool = True,
    min_box_size: float = 1.0,
    check_images: bool = True,
    cache_dir: Optional[str] = None,
) -> Tuple[str, CocoCleanReport]:
    """Clean ``json_file`` with :func:`clean_coco` and write the result to a cache file.

    The cache name is derived from the source path, its size and mtime and the options, so
    the dataset and the evaluator of one config (which call this independently) get the same
    file. Returns ``(path_of_cleaned_json, report)``.
    """
    cleaned, report = clean_coco(
        json_file,
        image_root,
        drop_category_names=drop_category_names,
        require_masks=require_masks,
        min_box_size=min_box_size,
        check_images=check_images,
    )
    st = os.stat(json_file)
    key = json.dumps(
        [
            os.path.abspath(json_file),
            st.st_size,
            st.st_mtime_ns,
            sorted(set(drop_category_names or ())),
            require_masks,
            min_box_size,
        ]
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    cache_dir = cache_dir or default_cache_dir()
    os.makedirs(cache_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(json_file))[0]
    out_path = os.path.join(cache_dir, f"{stem}.{digest}.json")
    # write atomically: concurrent processes (dataloader workers, evaluator) may race here
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(cleaned, f)
    os.replace(tmp, out_path)
    return out_path, report
