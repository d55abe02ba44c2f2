"""PASCAL VOC's segmentation classes and colours: the one definition segclassics uses.

Framework-free. ``CLASSES`` are the 21 names of VOC 2012's segmentation task (index 0 background,
then the 20 object classes in the devkit's order and spelling, as mmseg's ``PascalVOCDataset``);
label value ``IGNORE_INDEX`` (255) marks object boundaries and "difficult" regions.
``LABELME_THING_CLASSES`` spells the 20 object classes as labelme's VOC example annotations do
(the categories of ``../shared/data/voc_tiny/coco/annotations.json``, after its ``_background_``).
"""

from __future__ import annotations

from typing import List, Tuple

__all__ = ["CLASSES", "THING_CLASSES", "LABELME_THING_CLASSES", "IGNORE_INDEX", "PALETTE", "colour_map"]

#: Index i = label value i of ``SegmentationClass`` PNGs.
CLASSES: Tuple[str, ...] = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
#: The 20 object classes (instance segmentation: no background class).
THING_CLASSES: Tuple[str, ...] = CLASSES[1:]
#: ``THING_CLASSES`` as labelme's VOC examples spell two of them.
LABELME_THING_CLASSES: Tuple[str, ...] = tuple(
    {"pottedplant": "potted plant", "tvmonitor": "tv/monitor"}.get(name, name) for name in THING_CLASSES
)
IGNORE_INDEX = 255


def colour_map(n: int = 256) -> List[Tuple[int, int, int]]:
    """VOC's label colours (the devkit's ``VOClabelcolormap``): the bits of index i interleaved
    into r, g, b from the most significant bit down; ``n`` entries."""
    colours = []
    for index in range(n):
        r = g = b = 0
        cid = index
        for j in range(8):
            r |= ((cid >> 0) & 1) << (7 - j)
            g |= ((cid >> 1) & 1) << (7 - j)
            b |= ((cid >> 2) & 1) << (7 - j)
            cid >>= 3
        colours.append((r, g, b))
    return colours


#: The colours of ``CLASSES`` (background black, aeroplane (128, 0, 0), ...).
PALETTE: List[Tuple[int, int, int]] = colour_map(len(CLASSES))
