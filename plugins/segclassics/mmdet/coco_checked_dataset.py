"""``CheckedCocoDataset``: mmdet's ``CocoDataset`` reading a checked, cleaned copy of the json.

The json first goes through :func:`segclassics.datasets.coco_checks.cleaned_coco_json` (the
same function detectron2's ``register_checked_coco_instances`` uses): categories named in
``drop_category_names`` (default ``_background_``) are removed, annotations with
empty/degenerate masks or boxes, unknown category ids or unknown image ids are skipped
with a logged count, and a missing image file raises ``FileNotFoundError`` before training
starts. mmdet's own ``CocoDataset.load_data_list`` then parses the cleaned copy, so every
instance reaching Mask R-CNN's L = L_cls + L_box + L_mask (He et al. 2017, Sec. 3) has a
non-empty mask and box.

Args (in addition to ``CocoDataset``'s):
    drop_category_names (sequence of str): category names removed at load time.

``metainfo['classes']`` must name categories present in the json (after dropping): a class
missing from the json is a ``ValueError`` (mmdet would silently train without it).
Output: mmdet data samples, as ``CocoDataset``.
"""

from __future__ import annotations

from typing import List, Sequence

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from segclassics.datasets.coco_checks import DEFAULT_DROP_CATEGORY_NAMES, cleaned_coco_json
from segclassics.datasets.sample_checks import DataError


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """COCO-format instance dataset validated by ``segclassics.datasets.coco_checks``."""

    def __init__(self, *args, drop_category_names: Sequence[str] = DEFAULT_DROP_CATEGORY_NAMES, **kwargs):
        self.drop_category_names = tuple(drop_category_names or ())
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        image_root = self.data_prefix.get("img", "") or self.data_root or ""
        clean_path, report = cleaned_coco_json(self.ann_file, image_root, drop_category_names=self.drop_category_names)
        classes = list(self.metainfo["classes"])
        unknown = [c for c in classes if c not in report.thing_classes]
        if unknown:
            raise DataError(
                f"{self.ann_file}: metainfo classes {unknown} are not categories of the json "
                f"(after dropping {list(self.drop_category_names)}: {report.thing_classes}); "
                f"set metainfo=dict(classes=...) to names from the json"
            )
        source, self.ann_file = self.ann_file, clean_path
        try:
            return super().load_data_list()
        finally:
            self.ann_file = source
