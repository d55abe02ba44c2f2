"""Registering folder-based semantic-segmentation datasets in detectron2's catalogs.

detectron2 keeps datasets as named functions returning lists of dicts
(``DatasetCatalog``) plus metadata (``MetadataCatalog``). For semantic segmentation each
dict holds ``file_name``, ``sem_seg_file_name``, ``height`` and ``width``; the metadata's
``stuff_classes``, ``ignore_label`` and ``evaluator_type='sem_seg'`` drive
``SemSegEvaluator``. The listing runs lazily when a dataloader first asks for the data, so
a config that names a missing dataset fails there with a message that says where the data
was expected and which converter makes it.
"""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog

from segclassics.datasets.paths import require_path
from segclassics.datasets.sample_checks import check_stored_label, image_error
from segclassics.errors import MissingFileError


def list_image_label_pairs(
    image_root: str,
    label_root: str,
    image_ext: str = ".png",
    label_ext: str = ".png",
    dataset: str = "dataset",
    how_to_get: str = "",
    split_file: Optional[str] = None,
    relocate: str = "",
) -> List[dict]:
    """Pair every ``image_root/<stem><image_ext>`` with ``label_root/<stem><label_ext>``.

    ``split_file``: a list of stems, one per line (e.g. VOC's ``ImageSets/Segmentation/val.txt``);
    without it, every image in ``image_root``. Raises ``DatasetNotFoundError`` for a missing
    folder or split file (``how_to_get`` and ``relocate``, the detectron2 override or variable that
    moves the dataset, complete its message) and ``FileNotFoundError`` naming the first image or
    label missing.
    """
    require_path(image_root, dataset, how_to_get, relocate)
    require_path(label_root, dataset, how_to_get, relocate)
    if split_file is not None:
        require_path(split_file, dataset, how_to_get, relocate)
        with open(split_file) as f:
            stems = [line.split()[0] for line in f if line.strip()]
        missing = [s for s in stems if not os.path.isfile(os.path.join(image_root, s + image_ext))]
        if missing:
            raise MissingFileError(
                f"{dataset}: {len(missing)} images listed in {split_file!r} are not in "
                f"{image_root!r}, e.g. {missing[0] + image_ext!r}"
            )
    else:
        stems = sorted(f[: -len(image_ext)] for f in os.listdir(image_root) if f.endswith(image_ext))
    if not stems:
        raise MissingFileError(f"no '*{image_ext}' images in {image_root!r} ({dataset})")
    records = []
    for stem in stems:
        label = os.path.join(label_root, stem + label_ext)
        if not os.path.isfile(label):
            raise MissingFileError(
                f"{dataset}: image {os.path.join(image_root, stem + image_ext)!r} has no label {label!r}"
            )
        records.append({"file_name": os.path.join(image_root, stem + image_ext), "sem_seg_file_name": label})
    return records


def _with_sizes(records: List[dict]) -> List[dict]:
    from PIL import Image

    for r in records:
        try:
            with Image.open(r["file_name"]) as im:
                r["width"], r["height"] = im.size
        except (OSError, SyntaxError) as exc:  # not an image (Pillow's message does not say which file)
            raise image_error([r["file_name"]], exc) from exc
    return records


def register_sem_seg_dataset(
    name: str,
    image_root: str,
    label_root: str,
    stuff_classes: Sequence[str],
    *,
    ignore_label: int = 255,
    image_ext: str = ".png",
    label_ext: str = ".png",
    stuff_colors: Optional[Sequence[Sequence[int]]] = None,
    prepare: Optional[Callable[[], None]] = None,
    how_to_get: str = "",
    split_file: Optional[str] = None,
    relocate: str = "",
    root_variable: Optional[str] = None,
) -> str:
    """Register (or re-register) a folder-pair semantic-segmentation dataset; returns ``name``.

    Args:
        name: catalog name, e.g. ``'camvid_sem_seg_train'``.
        image_root / label_root: folders of images and of index-label PNGs with equal stems.
        stuff_classes: class names, index i = label value i.
        ignore_label: label value excluded from loss and metrics.
        prepare: called before listing (e.g. to generate synthetic data on first use).
        split_file: optional list of stems (VOC ``ImageSets`` style); default: every image.
        how_to_get: hint shown when the folders are missing (converter command, download).
        relocate: how to point the config at another copy (a detectron2 override such as
            ``dataloader.train.dataset.root=DIR`` or an environment variable), shown with it.
        root_variable: the environment variable that moves a dataset registered at import
            (metadata ``root_variable``, named when a ``data_root=DIR`` override is refused).
    """

    def load() -> List[dict]:
        if prepare is not None:
            prepare()
        records = list_image_label_pairs(
            image_root, label_root, image_ext, label_ext, name, how_to_get, split_file=split_file, relocate=relocate
        )
        # early, before a training starts; CheckedDatasetMapper checks every label as it is read
        check_stored_label(records[0]["sem_seg_file_name"], palette_reads_as_grey=True, dataset=name)
        return _with_sizes(records)

    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, load)
    meta = dict(
        stuff_classes=list(stuff_classes),
        ignore_label=ignore_label,
        evaluator_type="sem_seg",
        image_root=image_root,
        sem_seg_root=label_root,
    )
    if stuff_colors is not None:
        meta["stuff_colors"] = [list(c) for c in stuff_colors]
    if root_variable is not None:
        meta["root_variable"] = root_variable
    MetadataCatalog.get(name).set(**meta)
    return name


def root_variables(names: Sequence[str]) -> dict:
    """``{dataset name: the environment variable that moves it, or None}`` for registered
    ``names`` (the metadata's ``root_variable``)."""
    return {name: MetadataCatalog.get(name).get("root_variable", None) for name in names}


def registered_dataset_dicts(
    name: str, register: Optional[Callable[..., object]] = None, **register_kwargs
) -> List[dict]:
    """LazyCall-friendly dataset: ``register(**register_kwargs)`` (if given), then the dicts.

    Lets a lazy config choose a dataset's location as an overridable field, e.g.
    ``dataset=L(registered_dataset_dicts)(name="synthetic_shapes_sem_seg_train",
    register=register_synthetic, root="data/synthetic")`` and
    ``dataloader.train.dataset.root=/elsewhere`` on the command line.
    """
    if register is not None:
        register(**register_kwargs)
    return DatasetCatalog.get(name)


#: mmengine ``dataset_meta`` key -> detectron2 metadata key; the one mapping between the two, used
#: for the metadata of ``last_weights.pth`` and to read it back for inference.
DATASET_META_KEYS = (
    ("classes", "stuff_classes"),
    ("palette", "stuff_colors"),
    ("thing_classes", "thing_classes"),
    ("thing_palette", "thing_colors"),
)


def dataset_meta_of(name: str) -> dict:
    """The class names and colours registered for dataset ``name`` in mmengine's ``dataset_meta``
    form: ``classes``/``palette`` (semantic, detectron2's ``stuff_*``) and
    ``thing_classes``/``thing_palette`` (instances); keys the catalog lacks are left out."""
    metadata = MetadataCatalog.get(name)
    return {
        ours: list(metadata.get(theirs)) for ours, theirs in DATASET_META_KEYS if metadata.get(theirs, None) is not None
    }


def classes_for_task(dataset_meta: dict, task: str) -> tuple:
    """(class names, colours) of ``dataset_meta`` for ``task`` ('semantic' or 'instance')."""
    prefix = "" if task == "semantic" else "thing_"
    return (
        tuple(dataset_meta.get(f"{prefix}classes") or ()),
        [tuple(c) for c in dataset_meta.get(f"{prefix}palette") or ()],
    )
