"""mmseg dataset type ``SyntheticShapesDataset``: segclassics' embedded default data.

The data itself comes from :mod:`segclassics.datasets.synthetic` (textured disks, squares,
triangles, rings and crosses with occlusion on varied backgrounds; 0 = background,
255 = ignore). If ``data_root`` does not exist the dataset generates it with the default
parameters (160 train / 40 val images of 128x128, seed 0) on first use, so a config using
``configs/_base_/datasets/synthetic.py`` runs on any machine without downloads.
"""
from __future__ import annotations

import os

from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from segclassics.datasets import synthetic


@DATASETS.register_module()
class SyntheticShapesDataset(BaseSegDataset):
    """Synthetic shapes in mmseg's layout (``img_dir/{split}``, ``ann_dir/{split}``, ``.png``).

    Args:
        data_root (str): dataset folder; generated with the defaults if it is absent or
            empty, regenerated (same sizes / seed) if an older generator version made it
            (``segclassics.datasets.synthetic.ensure_current``). An up-to-date dataset with
            any parameters (e.g. from ``tools/dataset_converters/make_synthetic.py``) is used
            as it is.
        img_suffix / seg_map_suffix (str): ``'.png'`` for both.
        reduce_zero_label (bool): False: label 0 is the ``background`` class, not ignore.
        **kwargs: the rest of :class:`mmseg.datasets.BaseSegDataset`'s arguments
            (``data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train')``, ...).

    Samples: RGB uint8 images (H, W, 3) and uint8 label maps (H, W) with values in
    ``0..5`` (``METAINFO['classes']``) or 255.
    """
    METAINFO = dict(classes=synthetic.CLASSES, palette=synthetic.PALETTE)
    generates_itself = True  # segclassics.engine.data_check: no missing-data error up front

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png', reduce_zero_label: bool = False,
                 **kwargs) -> None:
        data_root = kwargs.get('data_root')
        if data_root and synthetic.ensure_current(data_root, verbose=False):
            print_log(f'SyntheticShapesDataset: generated the synthetic shapes in {os.path.abspath(data_root)!r} '
                      f'(it was absent, empty or made by an older generator version)', logger='current')
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         **kwargs)
