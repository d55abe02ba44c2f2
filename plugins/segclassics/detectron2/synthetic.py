"""Register the synthetic shapes (segclassics' embedded default) in detectron2's catalogs.

Names (``split`` in ``train``, ``val``):

* ``synthetic_shapes_sem_seg_{split}``: semantic segmentation (``stuff_classes`` = the 6
  classes incl. background, ``ignore_label=255``, ``evaluator_type='sem_seg'``), via
  :func:`segclassics.detectron2.datasets.register_sem_seg_dataset`.
* ``synthetic_shapes_{split}``: COCO instances of the 5 shape classes (RLE masks,
  ``evaluator_type='coco'``), loaded by detectron2's ``load_coco_json`` as
  ``register_coco_instances`` does.

The data is generated lazily (:func:`segclassics.datasets.synthetic.prepare`: the defaults if
``root`` is absent and is the default location, or ``generate=True``) the first time a
dataloader lists it, so registering costs nothing. Registering again (e.g. with another
``root``) replaces the earlier entries.
"""

from __future__ import annotations

import os
from typing import List, Optional

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import load_coco_json

from segclassics.datasets import synthetic
from segclassics.detectron2.datasets import register_sem_seg_dataset

__all__ = ["register_synthetic", "SPLITS"]

SPLITS = ("train", "val")


def _prepare(root: str, generate: Optional[bool]):
    def prepare() -> None:  # missing (where allowed) / older generator version: (re)generate
        synthetic.prepare(root, generate=generate, verbose=True)

    return prepare


def register_synthetic(root: Optional[str] = None, generate: Optional[bool] = None) -> List[str]:
    """Register the four synthetic-shapes datasets rooted at ``root``; returns their names.

    Args:
        root: the dataset folder; default ``$SEGCLASSICS_SYNTHETIC_ROOT`` or ``data/synthetic``.
        generate: on first use, generate a missing ``root`` with the defaults: None (default)
            only at the default location, True anywhere, False never (a missing root is then
            an error saying how to generate it). A dataset made by an older generator version
            is regenerated (same sizes / seed); an up-to-date one with any parameters (e.g. from
            ``python -m segclassics.tools.dataset_converters.make_synthetic``) is used as it is.
    """
    root = root or synthetic.default_root()
    prepare = _prepare(root, generate)
    names = []
    for split in SPLITS:
        names.append(
            register_sem_seg_dataset(
                f"synthetic_shapes_sem_seg_{split}",
                os.path.join(root, "img_dir", split),
                os.path.join(root, "ann_dir", split),
                synthetic.CLASSES,
                ignore_label=synthetic.IGNORE_INDEX,
                stuff_colors=synthetic.PALETTE,
                prepare=prepare,
                how_to_get=f"run: python -m segclassics.tools.dataset_converters.make_synthetic {root}",
                root_variable=synthetic.ROOT_ENV,
            )
        )

        name = f"synthetic_shapes_{split}"
        json_file = os.path.join(root, "annotations", f"instances_{split}.json")

        def load(name=name, json_file=json_file) -> List[dict]:
            prepare()
            return load_coco_json(json_file, root, name)

        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        DatasetCatalog.register(name, load)
        MetadataCatalog.get(name).set(
            json_file=json_file,
            image_root=root,
            evaluator_type="coco",
            thing_classes=list(synthetic.CLASSES[1:]),
            thing_colors=[list(c) for c in synthetic.PALETTE[1:]],
            root_variable=synthetic.ROOT_ENV,
        )
        names.append(name)
    return names
