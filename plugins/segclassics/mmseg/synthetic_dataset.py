"""mmseg dataset type ``SyntheticShapesDataset``: segclassics' embedded default data.

The data itself comes from :mod:`segclassics.datasets.synthetic` (textured disks, squares,
triangles, rings and crosses with occlusion on varied backgrounds; 0 = background,
255 = ignore). At the default location (``data/synthetic`` or ``$SEGCLASSICS_SYNTHETIC_ROOT``)
a missing dataset is generated with the default parameters (160 train / 40 val images of
128x128, seed 0) on first use, so a config using ``configs/_base_/datasets/synthetic.py`` runs on
any machine without downloads; elsewhere only with ``generate=True``
(:func:`segclassics.datasets.synthetic.prepare`).
"""

from __future__ import annotations

import logging
import os
from typing import Optional

from mmengine.logging import print_log
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from segclassics.datasets import synthetic


@DATASETS.register_module()
class SyntheticShapesDataset(BaseSegDataset):
    """Synthetic shapes in mmseg's layout (``img_dir/{split}``, ``ann_dir/{split}``, ``.png``).

    Args:
        data_root (str): dataset folder; regenerated (same sizes / seed) if an older
            generator version made it. An up-to-date dataset with any parameters (e.g. from
            ``python -m segclassics.tools.dataset_converters.make_synthetic``) is used as it is.
        generate (bool | None): generate a missing (absent or empty) ``data_root`` with the
            defaults: None (default) only at the default location, True anywhere, False never;
            otherwise a missing root is a ``DatasetNotFoundError`` saying how to generate it.
        img_suffix / seg_map_suffix (str): ``'.png'`` for both.
        reduce_zero_label (bool): False: label 0 is the ``background`` class, not ignore.
        **kwargs: the rest of :class:`mmseg.datasets.BaseSegDataset`'s arguments
            (``data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train')``, ...).

    Samples: RGB uint8 images (H, W, 3) and uint8 label maps (H, W) with values in
    ``0..5`` (``METAINFO['classes']``) or 255.
    """

    METAINFO = dict(classes=synthetic.CLASSES, palette=synthetic.PALETTE)
    generates_itself = True  # segclassics.engine.data_check: no missing-data error up front

    def __init__(
        self,
        img_suffix: str = ".png",
        seg_map_suffix: str = ".png",
        reduce_zero_label: bool = False,
        generate: Optional[bool] = None,
        **kwargs,
    ) -> None:
        data_root = kwargs.get("data_root")
        if data_root and synthetic.prepare(data_root, generate=generate):
            print_log(
                f"SyntheticShapesDataset: generated the synthetic shapes in {os.path.abspath(data_root)!r} "
                f"(it was absent, empty or made by an older generator version)",
                logger="current",
                level=logging.WARNING,
            )
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label, **kwargs
        )
