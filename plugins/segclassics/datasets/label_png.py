"""Index-label PNGs in palette mode ('P'): what they hold depends on how they are read.

PASCAL VOC's ``SegmentationClass/*.png`` (and many label tools) store class indices as a palette
image: the pixel values are the indices (0..20, 255), the palette only colours them. Readers that
keep the indices (numpy of the PIL image, mmcv's 'unchanged' pillow decode) see the classes; a
reader that *converts* the image -- detectron2's ``DatasetMapper`` reads ``sem_seg_file_name``
with ``PIL.Image.convert('L')`` -- turns each index into the grey level of its palette colour
(VOC class 15 'person', colour (192, 128, 128), becomes 147). ``palette_to_index_png`` rewrites
such a file as a single-channel ('L') PNG with the same indices, which every reader agrees on.
"""

from __future__ import annotations

import os
from typing import List

import numpy as np

from segclassics.errors import MissingFileError


def label_png_mode(path: str) -> str:
    """PIL mode of a label image ('L', 'P', 'RGB', ...)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.mode


def palette_to_index_png(src: str, dst: str) -> None:
    """Write ``src``'s pixel indices (palette or grey) to ``dst`` as an 8-bit 'L' PNG."""
    from PIL import Image

    with Image.open(src) as im:
        if im.mode not in ("P", "L"):
            raise ValueError(
                f"{src!r}: expected a palette ('P') or grey ('L') index PNG, got mode {im.mode!r} "
                f"(RGB colour-coded labels need a colour -> class table, e.g. "
                f"python -m segclassics.tools.dataset_converters.camvid --layout rgb)"
            )
        indices = np.asarray(im, dtype=np.uint8)
    from segclassics.utils.writer import save_image

    save_image(dst, Image.fromarray(indices, mode="L"))


def convert_folder(src_dir: str, dst_dir: str, ext: str = ".png") -> List[str]:
    """``palette_to_index_png`` for every ``*ext`` in ``src_dir``; returns the written paths."""
    names = sorted(f for f in os.listdir(src_dir) if f.endswith(ext))
    if not names:
        raise MissingFileError(f"no '*{ext}' label files in {src_dir!r}")
    out = []
    for name in names:
        palette_to_index_png(os.path.join(src_dir, name), os.path.join(dst_dir, name))
        out.append(os.path.join(dst_dir, name))
    return out
