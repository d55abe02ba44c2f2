"""``DRIVEFOVDataset``: DRIVE retinal vessels (Staal et al. 2004) with the field-of-view masks kept
for evaluation (UNet reproduction, issue 5)."""

from __future__ import annotations

import os.path as osp

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..datasets.paths import require_path
from ..errors import MissingFileError


@DATASETS.register_module()
class DRIVEFOVDataset(BaseSegDataset):
    """DRIVE as written by ``python -m segclassics.tools.dataset_converters.drive``: ``img_dir/{split}/NN.png`` (RGB),
    ``ann_dir/{split}/NN.png`` (0 background, 1 vessel), ``fov_dir/{split}/NN.png`` (0/1 FOV).

    Each data info carries ``fov_path`` (when ``data_prefix`` has ``fov_path``), which
    ``PackSegInputsWithWeight`` packs into the metainfo and ``BinarySegMetric`` reads to evaluate
    inside the FOV only.

    Args:
        data_root: default ``'data/drive'``.
        data_prefix: ``img_path``, ``seg_map_path`` and optionally ``fov_path`` folders.
    """

    METAINFO = dict(classes=("background", "vessel"), palette=[[0, 0, 0], [255, 255, 255]])
    # segclassics.engine.data_check: the hint of a missing-data error
    how_to_get = (
        "Make img_dir/, ann_dir/ and fov_dir/ from the DRIVE download with: python -m "
        "segclassics.tools.dataset_converters.drive DRIVE DATA_ROOT."
    )

    def __init__(
        self,
        data_root="data/drive",
        data_prefix=dict(img_path="img_dir/test", seg_map_path="ann_dir/test", fov_path="fov_dir/test"),
        img_suffix=".png",
        seg_map_suffix=".png",
        reduce_zero_label=False,
        **kwargs,
    ):
        require_path(
            osp.join(data_root, data_prefix["img_path"]),
            "DRIVE",
            "Convert the raw download with: python -m segclassics.tools.dataset_converters.drive "
            "../shared/data/drive data/drive",
        )
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs,
        )

    def load_data_list(self):
        data_list = super().load_data_list()
        fov_dir = self.data_prefix.get("fov_path")
        if fov_dir:
            for info in data_list:
                info["fov_path"] = osp.join(fov_dir, osp.basename(info["seg_map_path"]))
                if not osp.isfile(info["fov_path"]):
                    raise MissingFileError(f"FOV mask {info['fov_path']!r} missing; re-run the DRIVE converter")
        return data_list
