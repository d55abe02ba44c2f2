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

``segclassics.engine.data_check.add_detectron2_sample_checks`` puts it in place of
``DatasetMapper`` in LazyConfigs run by tools/train.py and tools/test.py; yaml configs get it
from the runner's trainer (``CheckedDatasetMapper(cfg, is_train)``).
"""

from __future__ import annotations

import re
from typing import Optional, Sequence, Tuple

from detectron2.config import configurable
from detectron2.data import DatasetMapper, MetadataCatalog
from detectron2.data.detection_utils import SizeMismatchError

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
        image_path = dataset_dict["file_name"]
        label_path = dataset_dict.get("sem_seg_file_name")
        paths = [p for p in (image_path, label_path) if p]
        check_stored_image(image_path)
        if label_path:
            _check_headers(image_path, label_path)
            check_stored_label(label_path, palette_reads_as_grey=True)
        try:
            out = super().__call__(dataset_dict)
        except SizeMismatchError as exc:  # the image is not the size its annotation records
            got = re.search(r"got \((\d+), (\d+)\), expect \((\d+), (\d+)\)", str(exc))
            if got is None:
                raise
            (w, h, rw, rh) = map(int, got.groups())
            check_recorded_size((h, w), (rh, rw), image_path)
            raise
        except (OSError, SyntaxError) as exc:  # Pillow could not decode one of the files
            raise image_error(paths, exc) from exc
        num_classes, ignore = self.label_spec()
        if label_path and num_classes is not None and "sem_seg" in out:
            check_label_values(out["sem_seg"].numpy(), num_classes, ignore, label_path)
        return out


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
