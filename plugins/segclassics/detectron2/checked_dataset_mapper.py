"""``CheckedDatasetMapper``: detectron2's ``DatasetMapper`` plus the per-sample checks of
:mod:`segclassics.datasets.sample_checks`.

detectron2's mapper reads an image and its semantic label and applies the same augmentation to
both whatever their sizes (a crop of two differently sized arrays gives two equal, misaligned
crops); its ``SemSegEvaluator`` counts label values beyond the classes in wrong cells; Pillow's
"image file is truncated" does not say which file. Before mapping, this mapper compares the
sizes of the image and the label (their headers only) and refuses colour labels; after mapping,
it checks the label values against the dataset's ``stuff_classes`` and ``ignore_label``
(``MetadataCatalog``). Any failure is a :class:`~segclassics.datasets.sample_checks.DataError`
naming the file, in training and in evaluation (the test loader maps every sample before the
evaluator sees it).

A semantic sample (an image and its label file, no instance annotations) is decoded and checked
once per process: the arrays are kept in :mod:`segclassics.datasets.decoded_cache`, as the
OpenMMLab loaders keep theirs, so later epochs neither decode nor check the files again; the
augmentations run on a copy. Instance samples take detectron2's own path.

``segclassics.engine.data_check.add_detectron2_sample_checks`` puts it in place of
``DatasetMapper`` in LazyConfigs run by tools/train.py and tools/test.py; yaml configs get it
from the runner's trainer (``CheckedDatasetMapper(cfg, is_train)``).
"""

from __future__ import annotations

import copy
import re
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import DatasetMapper, MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.data.detection_utils import SizeMismatchError

from segclassics.datasets.decoded_cache import decoded_cache, file_key
from segclassics.datasets.sample_checks import (
    DataError,
    check_label_values,
    check_recorded_size,
    check_same_size,
    check_stored_image,
    check_stored_label,
    image_error,
)

__all__ = ["CheckedDatasetMapper"]


class CheckedDatasetMapper(DatasetMapper):
    """``DatasetMapper`` (same arguments and output) that checks each sample.

    Args:
        is_train, **kwargs: ``DatasetMapper``'s.
        dataset_names: the catalog names the mapped dicts come from; the first one with
            ``stuff_classes`` gives the class count and ``ignore_label`` (default 255) of the label
            value check. Empty: no value check (sizes and decoding are still checked).
    """

    @configurable
    def __init__(self, is_train: bool, *, dataset_names: Sequence[str] = (), **kwargs):
        super().__init__(is_train, **kwargs)
        self.dataset_names = (dataset_names,) if isinstance(dataset_names, str) else tuple(dataset_names or ())
        self._label_spec: Optional[Tuple[Optional[int], Optional[int]]] = None

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        ret = super().from_config(cfg, is_train)
        ret["dataset_names"] = tuple(cfg.DATASETS.TRAIN if is_train else cfg.DATASETS.TEST)
        return ret

    def label_spec(self) -> Tuple[Optional[int], Optional[int]]:
        """``(num_classes, ignore_label)`` from the datasets' metadata (None, None if unknown)."""
        if self._label_spec is None:
            self._label_spec = (None, None)
            for name in self.dataset_names:
                meta = MetadataCatalog.get(name)
                classes = getattr(meta, "stuff_classes", None)
                if classes:
                    self._label_spec = (len(classes), getattr(meta, "ignore_label", 255))
                    break
        return self._label_spec

    def __call__(self, dataset_dict):
        if "annotations" in dataset_dict or self.proposal_topk is not None:
            return self._map_instances(dataset_dict)
        return self._map_semantic(dataset_dict)

    def _map_instances(self, dataset_dict):
        """detectron2's mapping, with the file checks around it."""
        image_path = dataset_dict["file_name"]
        check_stored_image(image_path)
        try:
            return _naming_the_size_mismatch(super().__call__, dataset_dict, image_path=image_path)
        except (OSError, SyntaxError) as exc:  # Pillow could not decode the file
            raise image_error([image_path], exc) from exc

    def _map_semantic(self, dataset_dict):
        """``DatasetMapper.__call__`` for an image and its label, with arrays decoded once."""
        dataset_dict = copy.deepcopy(dataset_dict)
        image_path = dataset_dict["file_name"]
        image, sem_seg = self._decoded(image_path, dataset_dict.pop("sem_seg_file_name", None))
        _naming_the_size_mismatch(utils.check_image_size, dataset_dict, image, image_path=image_path)
        aug_input = T.AugInput(image, sem_seg=sem_seg)
        self.augmentations(aug_input)
        image, sem_seg = aug_input.image, aug_input.sem_seg
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if sem_seg is not None:
            dataset_dict["sem_seg"] = torch.as_tensor(sem_seg.astype("long"))
        return dataset_dict

    def _decoded(self, image_path: str, label_path: Optional[str]):
        """The image (``self.image_format``) and the ``(H, W)`` label (None without a label file) as
        detectron2 reads them, checked; from the process's cache after the first time (copies)."""
        cache = decoded_cache()
        image_key = file_key(image_path, "detectron2 image", self.image_format)
        image = cache.get(image_key)
        if image is None:
            check_stored_image(image_path)
            image = _read(image_path, self.image_format)
            cache.put(image_key, image)
        if not label_path:
            return image, None
        label_key = file_key(label_path, "detectron2 label", self.label_spec())
        label = cache.get(label_key)
        if label is None:
            _check_headers(image_path, label_path)
            check_stored_label(label_path, palette_reads_as_grey=True)
            label = _read(label_path, "L").squeeze(2)
            num_classes, ignore = self.label_spec()
            if num_classes is not None:
                check_label_values(label, num_classes, ignore, label_path)
            cache.put(label_key, label)
        return image, label


def _read(path: str, image_format: str) -> np.ndarray:
    """detectron2's ``read_image``; a file Pillow cannot decode is a ``DataError`` naming it."""
    try:
        return utils.read_image(path, format=image_format)
    except (OSError, SyntaxError) as exc:
        raise image_error([path], exc) from exc


def _naming_the_size_mismatch(call, dataset_dict, *args, image_path: str = ""):
    """``call(dataset_dict, *args)``; detectron2's ``SizeMismatchError`` (the image is not the size
    its annotation records) becomes a ``DataError`` naming the file."""
    image_path = image_path or dataset_dict["file_name"]
    try:
        return call(dataset_dict, *args)
    except SizeMismatchError as exc:
        got = re.search(r"got \((\d+), (\d+)\), expect \((\d+), (\d+)\)", str(exc))
        if got is None:
            raise
        (w, h, rw, rh) = map(int, got.groups())
        check_recorded_size((h, w), (rh, rw), image_path)
        raise


def _check_headers(image_path: str, label_path: str) -> None:
    """Compare the sizes written in the two files' headers; refuse a colour label."""
    from PIL import Image

    try:
        with Image.open(image_path) as im, Image.open(label_path) as lab:
            image_size, label_size, mode = im.size, lab.size, lab.mode
    except (OSError, SyntaxError) as exc:
        raise image_error([image_path, label_path], exc) from exc
    check_same_size(image_size[::-1], label_size[::-1], image_path, label_path)
    if mode not in ("L", "P", "I", "I;16", "1"):
        raise DataError(
            f"label {label_path} is a {mode} image; expected a single-channel index PNG "
            f"(colour-coded labels need converting to class indices)"
        )
