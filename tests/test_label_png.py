"""Palette ('P') label PNGs: detectron2's DatasetMapper would read them as grey levels.

Independent fact: PASCAL VOC's colour map gives class 15 ('person') the colour (192, 128, 128),
whose ITU-R 601 luma (PIL's convert('L'): (299 R + 587 G + 114 B) / 1000) is 147, not 15.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segclassics.datasets.label_png import convert_folder, label_png_mode, palette_to_index_png


def _voc_palette_png(path, indices):
    im = Image.fromarray(indices.astype(np.uint8), mode="P")
    palette = [0, 0, 0] * 256
    palette[15 * 3 : 15 * 3 + 3] = [192, 128, 128]  # VOC 'person'
    palette[255 * 3 : 255 * 3 + 3] = [224, 224, 192]  # VOC 'void'
    im.putpalette(palette)
    im.save(path)


def test_palette_png_converted_to_index_png_keeps_the_indices(tmp_path):
    idx = np.array([[0, 15, 255], [15, 15, 0]])
    _voc_palette_png(tmp_path / "a.png", idx)
    assert label_png_mode(str(tmp_path / "a.png")) == "P"
    # what detectron2's reader would see: grey levels of the palette colours
    grey = np.asarray(Image.open(tmp_path / "a.png").convert("L"))
    assert grey[0, 1] == (299 * 192 + 587 * 128 + 114 * 128) // 1000 == 147
    palette_to_index_png(str(tmp_path / "a.png"), str(tmp_path / "out" / "a.png"))
    out = Image.open(tmp_path / "out" / "a.png")
    assert out.mode == "L"
    np.testing.assert_array_equal(np.asarray(out.convert("L")), idx)


def test_convert_folder_and_bad_inputs(tmp_path):
    (tmp_path / "src").mkdir()
    _voc_palette_png(tmp_path / "src" / "x.png", np.full((2, 2), 15))
    assert len(convert_folder(str(tmp_path / "src"), str(tmp_path / "dst"))) == 1
    Image.new("RGB", (2, 2)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="colour -> class table"):
        palette_to_index_png(str(tmp_path / "rgb.png"), str(tmp_path / "o.png"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no '\\*.png' label files"):
        convert_folder(str(tmp_path / "empty"), str(tmp_path / "o"))


def test_detectron2_registration_refuses_palette_labels_and_accepts_converted(tmp_path):
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetCatalog, DatasetMapper

    from segclassics.detectron2.datasets import register_sem_seg_dataset

    (tmp_path / "img").mkdir()
    (tmp_path / "lbl").mkdir()
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(tmp_path / "img" / "a.png")
    idx = np.zeros((4, 6), np.uint8)
    idx[1:3, 2:5] = 15
    _voc_palette_png(tmp_path / "lbl" / "a.png", idx)
    classes = [f"c{i}" for i in range(21)]
    register_sem_seg_dataset("_test_palette", str(tmp_path / "img"), str(tmp_path / "lbl"), classes)
    with pytest.raises(ValueError, match="segclassics.tools.dataset_converters.palette_to_index"):
        DatasetCatalog.get("_test_palette")
    convert_folder(str(tmp_path / "lbl"), str(tmp_path / "lbl_index"))
    register_sem_seg_dataset("_test_palette", str(tmp_path / "img"), str(tmp_path / "lbl_index"), classes)
    record = DatasetCatalog.get("_test_palette")[0]
    sem_seg = DatasetMapper(is_train=False, augmentations=[], image_format="RGB")(record)["sem_seg"]
    np.testing.assert_array_equal(sem_seg.numpy(), idx)
