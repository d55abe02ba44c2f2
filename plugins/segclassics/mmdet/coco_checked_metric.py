"""``CheckedCocoMetric``: mmdet's ``CocoMetric`` scoring against the cleaned json.

Builds the same cleaned copy as ``CheckedCocoDataset`` (via
:func:`segclassics.datasets.coco_checks.cleaned_coco_json`, cached by source path and
options), so COCO bbox/segm AP is computed on exactly the annotations that were loaded.

Args:
    ann_file (str): the *source* COCO json (as given to the dataset).
    image_root (str): folder the json's ``file_name`` entries are relative to (images are
        checked to exist).
    drop_category_names (sequence of str): as for the dataset (default ``_background_``).
    **kwargs: ``CocoMetric`` arguments (``metric=['bbox', 'segm']`` ...).
"""

from __future__ import annotations

from typing import Optional, Sequence

from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS

from segclassics.datasets.coco_checks import DEFAULT_DROP_CATEGORY_NAMES, cleaned_coco_json


@METRICS.register_module()
class CheckedCocoMetric(CocoMetric):
    """COCO AP against the ``coco_checks``-cleaned ground truth."""

    def __init__(
        self,
        ann_file: str,
        image_root: Optional[str] = None,
        drop_category_names: Sequence[str] = DEFAULT_DROP_CATEGORY_NAMES,
        **kwargs,
    ):
        clean_path, _ = cleaned_coco_json(
            ann_file, image_root, drop_category_names=drop_category_names, check_images=image_root is not None
        )
        self.source_ann_file = ann_file
        super().__init__(ann_file=clean_path, **kwargs)
