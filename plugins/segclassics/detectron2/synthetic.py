"""Register the synthetic shapes (segclassics' embedded default) in detectron2's catalogs.

Names (``split`` in ``train``, ``val``):

* ``synthetic_shapes_sem_seg_{split}``: semantic segmentation (``stuff_classes`` = the 6
  classes incl. background, ``ignore_label=255``, ``evaluator_type='sem_seg'``), via
  :func:`segclassics.detectron2.datasets.register_sem_seg_dataset`.
* ``synthetic_shapes_{split}``: COCO instances of the 5 shape classes (RLE masks,
  ``evaluator_type='coco'``), loaded by detectron2's ``load_coco_json`` as
  ``register_coco_instances`` does.

The data is generated lazily (:func:`segclassics.datasets.synthetic.ensure_current`: the
defaults if ``root`` is absent) the first time a dataloader lists it, so registering costs
nothing.
Registering again (e.g. with another ``root``) replaces the earlier entries.
"""
from __future__ import annotations

import os
from typing import List

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import load_coco_json

from segclassics.datasets import synthetic
from segclassics.detectron2.datasets import register_sem_seg_dataset

__all__ = ['register_synthetic', 'SPLITS']

SPLITS = ('train', 'val')
DEFAULT_ROOT = os.environ.get('SEGCLASSICS_SYNTHETIC_ROOT', 'data/synthetic')


def _prepare(root: str):
    def prepare() -> None:  # absent / empty / older generator version: (re)generate
        synthetic.ensure_current(root, verbose=True)
    return prepare


def register_synthetic(root: str = DEFAULT_ROOT) -> List[str]:
    """Register the four synthetic-shapes datasets rooted at ``root``; returns their names.

    On first use ``root`` is generated with the defaults if it is absent or empty, and
    regenerated (same sizes / seed) if an older generator version made it; an up-to-date
    dataset with any parameters (e.g. from ``tools/dataset_converters/make_synthetic.py``)
    is used as it is (``segclassics.datasets.synthetic.ensure_current``).
    """
    prepare = _prepare(root)
    names = []
    for split in SPLITS:
        names.append(register_sem_seg_dataset(
            f'synthetic_shapes_sem_seg_{split}', os.path.join(root, 'img_dir', split),
            os.path.join(root, 'ann_dir', split), synthetic.CLASSES, ignore_label=synthetic.IGNORE_INDEX,
            stuff_colors=synthetic.PALETTE, prepare=prepare,
            how_to_get=f'run: python tools/dataset_converters/make_synthetic.py {root}'))

        name = f'synthetic_shapes_{split}'
        json_file = os.path.join(root, 'annotations', f'instances_{split}.json')

        def load(name=name, json_file=json_file) -> List[dict]:
            prepare()
            return load_coco_json(json_file, root, name)

        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        DatasetCatalog.register(name, load)
        MetadataCatalog.get(name).set(json_file=json_file, image_root=root, evaluator_type='coco',
                                      thing_classes=list(synthetic.CLASSES[1:]),
                                      thing_colors=[list(c) for c in synthetic.PALETTE[1:]])
        names.append(name)
    return names


register_synthetic()  # the default location, like detectron2's builtin datasets
