"""``ISBI2012Dataset``: the EM membrane data of the UNet paper (Ronneberger et al. 2015, Sec. 4)."""

from __future__ import annotations

import os.path as osp

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..datasets.paths import require_path, shared_data
from ..datasets.sample_checks import DataError

#: ``../shared/data/isbi2012`` beside the source checkout
DEFAULT_ROOT = shared_data("isbi2012")


@DATASETS.register_module()
class ISBI2012Dataset(BaseSegDataset):
    """ISBI 2012 EM segmentation challenge (Cardona et al. 2010): 30 grey 512x512 training slices
    with labels, read from ``images/train/N.png`` and ``labels/train/N.png`` (255 = cell interior,
    0 = membrane). Classes: 0 ``membrane``, 1 ``cell`` (the label's 255 is mapped to 1 when it is
    loaded, so 255 never reaches mmseg's ``ignore_index``).

    The challenge's test labels are not public; the usual split is slices 0-23 train and 24-29 val
    (``slices``), matching ``isbi2012/instances/{train,val}.json``.

    Args:
        slices: slice numbers to use (e.g. ``range(0, 24)``); None = all images found.
        data_root: default ``../shared/data/isbi2012`` beside the source checkout (whatever the
            working directory).
        data_prefix: default ``img_path='images/train', seg_map_path='labels/train'``.
    """

    METAINFO = dict(classes=("membrane", "cell"), palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(
        self,
        slices=None,
        data_root=DEFAULT_ROOT,
        data_prefix=dict(img_path="images/train", seg_map_path="labels/train"),
        img_suffix=".png",
        seg_map_suffix=".png",
        reduce_zero_label=False,
        **kwargs,
    ):
        self.slices = None if slices is None else sorted(int(s) for s in slices)
        require_path(
            osp.join(data_root, data_prefix["img_path"]),
            "ISBI 2012",
            "Get the ISBI 2012 EM data (train-volume.tif / train-labels.tif as N.png slices) into "
            "DATA_ROOT/images/train and DATA_ROOT/labels/train",
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
        by_slice = {}
        for info in data_list:
            stem = osp.splitext(osp.basename(info["img_path"]))[0]
            if not stem.isdigit():
                raise DataError(f"ISBI2012Dataset expects slices named N.png, found {info['img_path']!r}")
            info["label_map"] = {255: 1}  # cell interior 255 -> class 1
            by_slice[int(stem)] = info
        if self.slices is None:
            return [by_slice[k] for k in sorted(by_slice)]
        missing = [s for s in self.slices if s not in by_slice]
        if missing:
            raise DataError(f"ISBI2012Dataset: slices {missing} not found; available {sorted(by_slice)}")
        return [by_slice[s] for s in self.slices]
