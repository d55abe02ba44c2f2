"""mmseg transform ``CheckedLoadAnnotations``: mmseg's ``LoadAnnotations`` plus the per-sample
checks of :mod:`segclassics.datasets.sample_checks`.

After loading the label exactly as mmseg does (``reduce_zero_label``, the dataset's
``label_map``), it raises :class:`~segclassics.datasets.sample_checks.DataError` naming the file
when

* the label cannot be decoded;
* the label is not the size of the image as stored (``ori_shape``; checked whether the image
  was resized before, as in mmseg's test pipelines, or not);
* the label holds values outside ``0..num_classes-1`` other than ``ignore_index``.

A decoded, mapped and checked label is kept in the process's
:mod:`segclassics.datasets.decoded_cache`: later epochs neither decode nor check it again.

``segclassics.engine.data_check.add_sample_checks`` puts it in place of ``LoadAnnotations`` in
every pipeline of an mmseg config run by tools/train.py and tools/test.py, with the dataset's
class count and ignore index.
"""

from __future__ import annotations

from typing import Optional

from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from ..datasets.decoded_cache import decoded_cache, file_key
from ..datasets.sample_checks import (
    DataError,
    check_label_values,
    check_same_size,
    check_stored_label,
    describe_label_mapping,
    image_error,
)


@TRANSFORMS.register_module()
class CheckedLoadAnnotations(LoadAnnotations):
    """``LoadAnnotations`` that checks the label it loaded.

    Args:
        num_classes: the dataset's class count (values ``0..num_classes-1`` are classes);
            None skips the value check.
        ignore_index: the label value excluded from loss and metrics (mmseg: 255).
        **kwargs: ``LoadAnnotations`` arguments (``reduce_zero_label``, ``imdecode_backend``, ...).

    Output: as ``LoadAnnotations``: ``gt_seg_map`` (H, W) uint8 and ``seg_fields``.
    """

    def __init__(self, num_classes: Optional[int] = None, ignore_index: Optional[int] = 255, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _load_seg_map(self, results: dict) -> None:
        path = results["seg_map_path"]
        key = None
        if self.backend_args is None:
            label_map = tuple(sorted((results.get("label_map") or {}).items()))
            key = file_key(
                path,
                "label",
                label_map,
                bool(results.get("reduce_zero_label")),
                self.imdecode_backend,
                self.num_classes,
                self.ignore_index,
            )
        label = decoded_cache().get(key)
        if label is not None:  # decoded, mapped and value-checked before in this process
            results["gt_seg_map"] = label
            results["seg_fields"].append("gt_seg_map")
            if "ori_shape" in results:
                check_same_size(results["ori_shape"], label.shape, results.get("img_path", "?"), path)
            return
        if isinstance(path, str):
            check_stored_label(path)  # mmseg narrows labels to 8 bit before anything can see a 16-bit value
        try:
            super()._load_seg_map(results)
        except DataError:
            raise
        except (OSError, SyntaxError, ValueError) as exc:  # Pillow / OpenCV could not decode the file
            raise image_error([path], exc) from exc
        label = results["gt_seg_map"]
        if label.ndim != 2:
            raise DataError(
                f"label {path} has shape {tuple(label.shape)}; expected a single-channel (H, W) "
                f"index image (colour-coded labels need converting to class indices)"
            )
        if "ori_shape" in results:
            check_same_size(results["ori_shape"], label.shape, results.get("img_path", "?"), path)
        if self.num_classes is not None:
            mapping = describe_label_mapping(results.get("label_map"), bool(results.get("reduce_zero_label")))
            check_label_values(label, self.num_classes, self.ignore_index, path, mapping)
        decoded_cache().put(key, label)
