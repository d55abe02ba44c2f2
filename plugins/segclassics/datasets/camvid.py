"""CamVid with the 11 classes of the SegNet benchmark: names, palette, the 32 -> 11 class
mapping, file checks and the conversion logic behind ``python -m segclassics.tools.dataset_converters.camvid``.

Framework-free (numpy + Pillow). On disk we keep the SegNet tutorial's label encoding
(8-bit index PNG, ``0..10`` = the classes below, ``11`` = void/unlabelled); the mmseg dataset
``CamVidDataset`` maps ``11 -> 255`` when it loads a label so that mmseg's usual
``ignore_index=255`` applies everywhere (loss, metrics) without special settings.

Layout written by the converter (and used by ``../shared/data/camvid``)::

    ROOT/images/{train,val,test}/NAME.jpg     RGB
    ROOT/labels/{train,val,test}/NAME.png     index 0..11 (11 = void)
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from segclassics.errors import MissingFileError
from segclassics.utils.writer import save_image

from .sample_checks import DataError

#: The 11 classes of Brostow et al.'s CamVid as grouped by Sturgess et al. (BMVC 2009) and used by
#: SegNet (the column order of its CamVid tables).
CLASSES: Tuple[str, ...] = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)
#: The SegNet tutorial palette (its ``Pavement`` is 60,40,222, not CamVid's Sidewalk 0,0,192).
PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (60, 40, 222),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
)
#: Label value of void / unlabelled pixels in the files.
VOID = 11
NUM_CLASSES = len(CLASSES)
SPLITS = ("train", "val", "test")

#: The 32 classes of the original CamVid release (``label_colors.txt`` of Brostow et al.,
#: "Semantic object classes in video: a high-definition ground truth database", PRL 2009),
#: as RGB -> (name, index among the 11 classes or VOID).
#: The grouping into 11 classes follows the one MathWorks publishes with its CamVid SegNet
#: example (function ``camvidPixelLabelIDs`` in "Semantic Segmentation Using Deep Learning",
#: Computer Vision Toolbox documentation), which reproduces Sturgess et al.'s 11-class set.
#: The SegNet authors did not publish their own mapping code, so labels converted from the
#: RGB release may differ from the tutorial's index PNGs at a few pixels.
CAMVID32: Dict[Tuple[int, int, int], Tuple[str, int]] = {
    (128, 128, 128): ("Sky", 0),
    (0, 128, 64): ("Bridge", 1),
    (128, 0, 0): ("Building", 1),
    (64, 192, 0): ("Wall", 1),
    (64, 0, 64): ("Tunnel", 1),
    (192, 0, 128): ("Archway", 1),
    (192, 192, 128): ("Column_Pole", 2),
    (0, 0, 64): ("TrafficCone", 2),
    (128, 64, 128): ("Road", 3),
    (128, 0, 192): ("LaneMkgsDriv", 3),
    (192, 0, 64): ("LaneMkgsNonDriv", 3),
    (0, 0, 192): ("Sidewalk", 4),
    (64, 192, 128): ("ParkingBlock", 4),
    (128, 128, 192): ("RoadShoulder", 4),
    (128, 128, 0): ("Tree", 5),
    (192, 192, 0): ("VegetationMisc", 5),
    (192, 128, 128): ("SignSymbol", 6),
    (128, 128, 64): ("Misc_Text", 6),
    (0, 64, 64): ("TrafficLight", 6),
    (64, 64, 128): ("Fence", 7),
    (64, 0, 128): ("Car", 8),
    (64, 128, 192): ("SUVPickupTruck", 8),
    (192, 128, 192): ("Truck_Bus", 8),
    (192, 64, 128): ("Train", 8),
    (128, 64, 64): ("OtherMoving", 8),
    (64, 64, 0): ("Pedestrian", 9),
    (192, 128, 64): ("Child", 9),
    (64, 0, 192): ("CartLuggagePram", 9),
    (64, 128, 64): ("Animal", 9),
    (0, 128, 192): ("Bicyclist", 10),
    (192, 0, 192): ("MotorcycleScooter", 10),
    (0, 0, 0): ("Void", VOID),
}


class CamVidFormatError(DataError):
    """A CamVid file does not have the expected content (values, size, colours)."""


def rgb_to_index(rgb: np.ndarray, name: str = "") -> np.ndarray:
    """Map an ``(H, W, 3)`` uint8 CamVid RGB label (32 classes) to 11-class indices (11 = void).

    Raises :class:`CamVidFormatError` naming the unknown colours.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise CamVidFormatError(f"{name or 'label'}: expected an RGB label (H, W, 3), got shape {rgb.shape}")
    code = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    lut_keys = np.array([(r << 16) | (g << 8) | b for (r, g, b) in CAMVID32], dtype=np.int64)
    lut_vals = np.array([v[1] for v in CAMVID32.values()], dtype=np.uint8)
    order = np.argsort(lut_keys)
    lut_keys, lut_vals = lut_keys[order], lut_vals[order]
    pos = np.clip(np.searchsorted(lut_keys, code), 0, len(lut_keys) - 1)
    known = lut_keys[pos] == code
    if not known.all():
        bad = np.unique(code[~known])[:8]
        colours = [((int(c) >> 16) & 255, (int(c) >> 8) & 255, int(c) & 255) for c in bad]
        raise CamVidFormatError(
            f"{name or 'label'}: {int((~known).sum())} pixels have colours {colours} that are "
            f"not among CamVid's 32 class colours (segclassics.datasets.camvid.CAMVID32)"
        )
    return lut_vals[pos]


def check_label_values(label: np.ndarray, name: str, num_classes: int = NUM_CLASSES, void: int = VOID) -> None:
    """Raise :class:`CamVidFormatError` if ``label`` has values other than ``0..num_classes-1`` and ``void``."""
    values = np.unique(label)
    bad = [int(v) for v in values if not (0 <= v < num_classes or v == void)]
    if bad:
        raise CamVidFormatError(
            f"{name}: label values {bad[:10]} are outside 0..{num_classes - 1} "
            f"(classes) and {void} (void); is this an 11-class CamVid index label?"
        )


def check_pair(image_path: str, label_path: str, check_values: bool = True) -> None:
    """Check that an image and its label exist, have the same size and (optionally) valid values."""
    from PIL import Image

    for p in (image_path, label_path):
        if not os.path.isfile(p):
            raise MissingFileError(f"CamVid file not found: {p!r}")
    with Image.open(image_path) as im:
        isize = im.size
    with Image.open(label_path) as lab:
        lsize = lab.size
        if check_values:
            if lab.mode not in ("L", "P", "I", "I;16"):
                raise CamVidFormatError(
                    f"{label_path}: label mode {lab.mode!r}; expected a single-channel index PNG "
                    f"(RGB-coded labels must be converted with python -m segclassics.tools.dataset_converters.camvid)"
                )
            arr = np.asarray(lab)
    if isize != lsize:
        raise CamVidFormatError(
            f"image {image_path} is {isize[0]}x{isize[1]} (WxH) but its label {label_path} "
            f"is {lsize[0]}x{lsize[1]}; they must have the same size"
        )
    if check_values:
        check_label_values(arr, label_path)


def read_split_file(path: str) -> List[str]:
    """Stems listed in a split file.

    Accepts the SegNet tutorial's ``train.txt`` (``/SegNet/CamVid/train/X.png /SegNet/CamVid/trainannot/X.png``
    per line) and plain lists (one ``X`` or ``X.png`` per line); blank lines are skipped.
    """
    if not os.path.isfile(path):
        raise MissingFileError(
            f"CamVid split file not found: {path!r} (expected one image name per line, "
            f"or the SegNet tutorial's train.txt/val.txt/test.txt)"
        )
    stems = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                stems.append(os.path.splitext(os.path.basename(line.split()[0]))[0])
    if not stems:
        raise DataError(f"CamVid split file {path!r} lists no image")
    return stems


def _save_image(src: str, dst: str, size: Optional[Tuple[int, int]], quality: int) -> None:
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        if size is not None and im.size != tuple(size):
            im = im.resize(tuple(size), Image.BILINEAR)
        if dst.lower().endswith((".jpg", ".jpeg")):
            save_image(dst, im, quality=quality)
        else:
            save_image(dst, im)


def _save_label(arr: np.ndarray, dst: str, size: Optional[Tuple[int, int]]) -> None:
    from PIL import Image

    im = Image.fromarray(arr.astype(np.uint8), mode="L")
    if size is not None and im.size != tuple(size):
        im = im.resize(tuple(size), Image.NEAREST)
    save_image(dst, im)


def convert(
    layout: str,
    src: str,
    dst: str,
    splits: Sequence[str] = SPLITS,
    split_dir: Optional[str] = None,
    img_ext: str = ".jpg",
    size: Optional[Tuple[int, int]] = None,
    quality: int = 95,
    limit: Optional[int] = None,
) -> Dict[str, int]:
    """Write ``dst/images/<split>/X<img_ext>`` and ``dst/labels/<split>/X.png``; returns counts per split.

    Args:
        layout: ``'segnet'``: the SegNet tutorial's folder (``src/{split}/X.png``,
            ``src/{split}annot/X.png`` index labels, ``src/{split}.txt`` lists);
            ``'rgb'``: the original CamVid release (``src/701_StillsRaw_full/X.png`` and
            ``src/LabeledApproved_full/X_L.png`` RGB 32-class labels), which needs ``split_dir``.
        split_dir: folder with ``{split}.txt`` (default: ``src``).
        size: ``(W, H)`` to resize to (image bilinear, label nearest); ``None`` keeps the size.
            The SegNet benchmark uses 480x360; the RGB release is 960x720.
        limit: convert at most this many images per split (for tests).
    """
    if layout not in ("segnet", "rgb"):
        raise ValueError(
            f"layout must be 'segnet' (SegNet tutorial index PNGs) or 'rgb' (original CamVid), got {layout!r}"
        )
    from PIL import Image

    split_dir = split_dir or src
    counts = {}
    for split in splits:
        stems = read_split_file(os.path.join(split_dir, f"{split}.txt"))[:limit]
        os.makedirs(os.path.join(dst, "images", split), exist_ok=True)
        os.makedirs(os.path.join(dst, "labels", split), exist_ok=True)
        for stem in stems:
            if layout == "segnet":
                img_p = os.path.join(src, split, stem + ".png")
                lab_p = os.path.join(src, split + "annot", stem + ".png")
                check_pair(img_p, lab_p)
                with Image.open(lab_p) as lab:
                    arr = np.asarray(lab)
            else:
                img_p = os.path.join(src, "701_StillsRaw_full", stem + ".png")
                lab_p = os.path.join(src, "LabeledApproved_full", stem + "_L.png")
                check_pair(img_p, lab_p, check_values=False)
                with Image.open(lab_p) as lab:
                    arr = rgb_to_index(np.asarray(lab.convert("RGB")), lab_p)
            _save_image(img_p, os.path.join(dst, "images", split, stem + img_ext), size, quality)
            _save_label(arr, os.path.join(dst, "labels", split, stem + ".png"), size)
        counts[split] = len(stems)
    return counts


def iter_labels(label_dir: str, names: Optional[Iterable[str]] = None, suffix: str = ".png"):
    """Yield ``(path, label array)`` for the label PNGs of a folder (sorted), checking values."""
    from PIL import Image

    if not os.path.isdir(label_dir):
        raise MissingFileError(f"label folder not found: {label_dir!r}")
    files = (
        sorted(f for f in os.listdir(label_dir) if f.endswith(suffix))
        if names is None
        else [n if n.endswith(suffix) else n + suffix for n in names]
    )
    if not files:
        raise MissingFileError(f"no *{suffix} label in {label_dir!r}")
    for f in files:
        p = os.path.join(label_dir, f)
        with Image.open(p) as im:
            arr = np.asarray(im)
        check_label_values(arr, p)
        yield p, arr
