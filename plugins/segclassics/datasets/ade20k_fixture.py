"""A few generated images in the exact ADE20K (ADEChallengeData2016) layout, for tests.

It lets the test suite run the real ADE20K configs (``ADE20KDataset``, its pipeline with
``reduce_zero_label``, 150 classes) end to end without the 923 MB download. Layout::

    root/images/{training,validation}/ADE_{train,val}_%08d.jpg     RGB JPEG
    root/annotations/{training,validation}/ADE_{train,val}_%08d.png uint8: 0 = "other"
                                                                    (ignored), 1..150 = classes

Content: rectangles of random classes (1..150) on an "other" (0) background, each filled with a
class-dependent colour plus noise. Deterministic for a given ``seed``. Not real data: only for
exercising code paths.
"""

from __future__ import annotations

import os
from typing import Tuple

import numpy as np
from PIL import Image

__all__ = ["make_ade20k_fixture"]

NUM_CLASSES = 150


def make_ade20k_fixture(
    root: str, num_train: int = 4, num_val: int = 2, size: Tuple[int, int] = (96, 128), seed: int = 0
) -> str:
    """Write the fixture under ``root`` (created) and return ``root``.

    ``size`` is (H, W); ADE20K images vary in size, so do ours (H, W +- 16 px).
    """
    if num_train < 1 or num_val < 1:
        raise ValueError(f"need at least one training and one validation image, got {num_train}, {num_val}")
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, size=(NUM_CLASSES + 1, 3))
    for split, prefix, n in (("training", "ADE_train", num_train), ("validation", "ADE_val", num_val)):
        img_dir = os.path.join(root, "images", split)
        ann_dir = os.path.join(root, "annotations", split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(n):
            h = int(size[0] + rng.integers(-16, 17))
            w = int(size[1] + rng.integers(-16, 17))
            label = np.zeros((h, w), np.uint8)
            for _ in range(int(rng.integers(3, 7))):
                cls = int(rng.integers(1, NUM_CLASSES + 1))
                y0, x0 = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
                y1, x1 = int(rng.integers(y0 + 8, h + 1)), int(rng.integers(x0 + 8, w + 1))
                label[y0:y1, x0:x1] = cls
            img = palette[label] + rng.normal(0, 12, size=(h, w, 3))
            img = np.clip(img, 0, 255).astype(np.uint8)
            name = f"{prefix}_{i + 1:08d}"
            Image.fromarray(img).save(os.path.join(img_dir, name + ".jpg"), quality=95)
            Image.fromarray(label).save(os.path.join(ann_dir, name + ".png"))
    return root
