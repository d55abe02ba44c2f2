"""Checks of one training/evaluation sample, shared by every framework's data loading.

Framework-free (numpy, Pillow). The frameworks' own loaders accept bad samples silently or
fail far from the cause:

* an image and its label of different sizes train on misaligned pixels (the random crop and
  flip of both frameworks apply the same geometry to both, whatever their sizes) and fail
  only later, in validation, with an unrelated shape error;
* label values outside ``0..num_classes-1`` (other than the ignore index) are dropped by
  mmseg's metrics and counted in the wrong confusion-matrix cells by detectron2's
  ``SemSegEvaluator``, so the metrics are wrong without a message;
* OpenCV (mmcv's default decoder) decodes a truncated JPEG without error, grey where the
  data is missing; Pillow (detectron2's ``read_image``) raises "image file is truncated"
  without the file's name.

The functions here raise :class:`DataError` naming the file, the values and what would be
right. The thin callers are ``segclassics.mmseg.checked_load_annotations`` /
``segclassics.openmmlab.checked_image_loading`` (mmseg and mmdet pipelines) and
``segclassics.detectron2.checked_dataset_mapper`` (detectron2's ``DatasetMapper``).
Each check costs one pass over the label (``np.unique``) or a few bytes of the image file.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from segclassics.errors import UserError

__all__ = [
    "DataError",
    "check_same_size",
    "check_recorded_size",
    "check_label_values",
    "check_image_complete",
    "image_error",
    "check_split_not_empty",
    "check_stored_image",
    "check_stored_label",
]

#: Shown at most this many offending label values.
MAX_VALUES_SHOWN = 10
_WORKER_MARK = "in DataLoader worker process"


class DataError(UserError, ValueError):
    """A data file is unusable (size, values, decoding, content) or a split is empty.

    A ``UserError`` (tools print it as one ``error:`` line) and a ``ValueError`` (what data
    helpers raised before, so callers catching ``ValueError`` keep working).

    torch's ``DataLoader`` re-raises an error from a worker process as
    ``DataError("Caught DataError in DataLoader worker process 0.\\nOriginal Traceback ...")``;
    the message is then reduced to the original one line, so the user sees what was wrong
    with the file and not a traceback.
    """

    def __init__(self, message: str = "", *args):
        if _WORKER_MARK in message and "Original Traceback" in message:
            tail = message.rstrip().splitlines()[-1]
            message = tail.split(": ", 1)[1] if ": " in tail else tail
        super().__init__(message, *args)


def check_same_size(image_shape: Sequence[int], label_shape: Sequence[int], image_path: str, label_path: str) -> None:
    """Raise :class:`DataError` unless the image and the label have the same height and width.

    Args:
        image_shape / label_shape: ``(H, W, ...)`` of the image as stored and of the label.
    """
    (ih, iw), (lh, lw) = tuple(image_shape[:2]), tuple(label_shape[:2])
    if (ih, iw) != (lh, lw):
        raise DataError(
            f"image {image_path} is {iw}x{ih} (WxH) but its label {label_path} is {lw}x{lh}; "
            f"an image and its label must have the same size"
        )


def check_recorded_size(image_shape: Sequence[int], recorded_shape: Sequence[int], image_path: str) -> None:
    """Raise :class:`DataError` unless an image is the size its annotation records (COCO's
    ``height``/``width``: instance masks are drawn at that size).

    Args:
        image_shape / recorded_shape: ``(H, W, ...)`` of the decoded image and ``(H, W)`` recorded.
    """
    (ih, iw), (rh, rw) = tuple(image_shape[:2]), tuple(recorded_shape[:2])
    if (ih, iw) != (rh, rw):
        raise DataError(
            f"image {image_path} is {iw}x{ih} (WxH) but its annotation records {rw}x{rh}; the dataset's "
            f"width/height must be those of the image file"
        )


def check_label_values(
    label: np.ndarray, num_classes: int, ignore_index: Optional[int], label_path: str, mapping: Optional[str] = None
) -> None:
    """Raise :class:`DataError` if ``label`` holds values outside ``0..num_classes-1`` other than
    ``ignore_index``.

    Args:
        label: ``(H, W)`` integer label as the model will see it (after the dataset's label map).
        num_classes: number of classes of the dataset.
        ignore_index: the value excluded from the loss and the metrics (None: no such value).
        label_path: the file, for the message.
        mapping: how the file's values were changed before this check (e.g.
            ``"reduce_zero_label"``), for the message; None if they were not.
    """
    label = np.asarray(label)
    if label.size == 0:
        return
    low, high = int(label.min()), int(label.max())  # the common case (all valid) costs a few reductions
    if low >= 0 and high < num_classes:
        return
    if low >= 0 and high == ignore_index and _max_below(label, ignore_index) < num_classes:
        return
    values = np.unique(label)
    bad = [int(v) for v in values if not (0 <= v < num_classes or v == ignore_index)]
    if not bad:
        return
    shown = ", ".join(map(str, bad[:MAX_VALUES_SHOWN])) + (" ..." if len(bad) > MAX_VALUES_SHOWN else "")
    allowed = f"0..{num_classes - 1} ({num_classes} classes)" + (
        f" and {ignore_index} (ignore)" if ignore_index is not None else ""
    )
    after = f" after {mapping}" if mapping else ""
    raise DataError(
        f"label {label_path} has values {shown}{after} outside {allowed}; fix the file or the "
        f"dataset's classes / ignore index"
    )


def _max_below(label: np.ndarray, ignore_index: int) -> int:
    """The largest value of ``label`` that is not ``ignore_index`` (-1 if none)."""
    rest = label[label != ignore_index]
    return int(rest.max()) if rest.size else -1


def describe_label_mapping(label_map: Optional[Mapping[int, int]], reduce_zero_label: bool) -> Optional[str]:
    """The ``mapping`` text of :func:`check_label_values` for mmseg's two label transformations."""
    parts = []
    if label_map:
        parts.append(f"label_map {dict(label_map)}")
    if reduce_zero_label:
        parts.append("reduce_zero_label (0 -> 255, v -> v-1)")
    return " and ".join(parts) or None


# ----------------------------------------------------------------------------- images


def _jpeg_complete(data: bytes) -> bool:
    """A JPEG's entropy-coded data ends with the EOI marker FF D9; in the data itself 0xFF is
    always followed by 0x00 or a restart marker, so an EOI after the last start-of-scan
    (FF DA) means the scan is complete. (An EXIF thumbnail has its own EOI, before.)"""
    return data.rfind(b"\xff\xd9") > data.rfind(b"\xff\xda")


def check_image_complete(path: str) -> None:
    """Raise :class:`DataError` if the JPEG ``path`` is truncated (other formats: no check).

    OpenCV decodes a truncated JPEG without an error (the missing rows come out grey); this
    check reads the file's last bytes (and only when they are not the end marker, the whole file).
    """
    if not path.lower().endswith((".jpg", ".jpeg")):
        return
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(size - 64, 0))
            tail = f.read()
            if tail.rstrip(b"\x00").endswith(b"\xff\xd9"):
                return
            f.seek(0)
            data = f.read()
    except OSError:
        return  # not a local file (another storage backend): the decoder is the judge
    if data[:2] == b"\xff\xd8" and not _jpeg_complete(data):
        raise DataError(f"image {path} is truncated (the JPEG data ends before its end marker); replace the file")


#: EXIF orientation values (1 = as stored) and what a decoder that applies them does.
EXIF_ORIENTATIONS = {
    2: "mirrored",
    3: "rotated 180 degrees",
    4: "flipped upside down",
    5: "mirrored and rotated",
    6: "rotated 90 degrees",
    7: "mirrored and rotated",
    8: "rotated 270 degrees",
}


def _png_bit_depth(path: str) -> Optional[int]:
    """Bits per sample a PNG stores (its IHDR header), or None for another format."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 26:
        return None
    return head[24]


def check_stored_image(path: str, decodes_unchanged: bool = False) -> None:
    """Raise :class:`DataError` for an image whose decoding would silently differ from what is
    stored or from its label:

    * an EXIF orientation other than "as stored": OpenCV (mmcv) and detectron2 rotate the image
      when decoding, but not its label PNG, so pixels and classes would not line up;
    * 16 bits per sample, unless the pipeline decodes images unchanged: an 8-bit decode keeps
      only the high byte, a scaling the training data may not have had.

    Reads the file's header only (a few hundred bytes), not its pixels.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(0x0112, 1)
            mode = im.mode
    except Exception:  # noqa: BLE001 - an unreadable file is named by the decoder's check
        return
    if orientation in EXIF_ORIENTATIONS:
        raise DataError(
            f"image {path} carries an EXIF orientation ({orientation}: {EXIF_ORIENTATIONS[orientation]}) "
            f"that decoders apply to the image but not to its label, so pixels and classes would not line "
            f"up; save the image as it is displayed (orientation applied, tag removed) and its label alike"
        )
    sixteen = _png_bit_depth(path) == 16 or mode.startswith("I;16") or mode in ("I", "F")
    if sixteen and not decodes_unchanged:
        raise DataError(
            f"image {path} stores 16 bits per sample (mode {mode}); the pipeline decodes it as 8 bit, "
            f"keeping only the high byte: convert the images to 8 bit with the scaling you want, or "
            f"load them unchanged (color_type='unchanged') and normalise them in the pipeline"
        )


def check_stored_label(path: str, palette_reads_as_grey: bool = False, dataset: str = "") -> None:
    """Raise :class:`DataError` for a label file whose class indices a reader would change:

    * a 16-bit label with values above 255: both frameworks read labels as 8 bit (mmseg's
      ``astype(uint8)`` turns 256 into 0, detectron2's ``convert('L')`` into 255);
    * a palette ('P') PNG where the reader converts to grey (``palette_reads_as_grey``: detectron2's
      ``DatasetMapper``), which replaces each index by its palette colour's grey level.

    Reads the header, and the pixels only of a 16-bit file.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = im.mode
            sixteen = _png_bit_depth(path) == 16 or mode.startswith("I")
            high = int(np.asarray(im).max()) if sixteen and im.width * im.height else 0
    except Exception:  # noqa: BLE001 - an unreadable file is named by the decoder's check
        return
    if high > 255:
        values = f"values up to {high}"
        raise DataError(
            f"label {path} is a 16-bit image with {values}; labels are read as 8 bit, which would turn "
            f"class 256 into 0 (mmseg) or 255 (detectron2) without a word: store at most 256 classes, "
            f"as an 8-bit PNG"
        )
    if mode == "P" and palette_reads_as_grey:
        where = f"{dataset}: " if dataset else ""
        raise DataError(
            f"{where}label {path} is a palette ('P') PNG. detectron2's DatasetMapper reads labels with PIL "
            f"convert('L'), which replaces each class index by the grey level of its palette colour (e.g. VOC class "
            f"15 -> 147). Write the indices as grey ('L') PNGs first: "
            f"python -m segclassics.tools.dataset_converters.palette_to_index {os.path.dirname(path)} OUT_DIR, and "
            f"register OUT_DIR as the label folder."
        )


def image_error(paths: Sequence[str], cause: BaseException) -> DataError:
    """The :class:`DataError` for a sample whose image or label failed to decode.

    ``paths``: the files the sample read (image first). The decoders' own messages do not
    always say which file ("image file is truncated"), so each file is opened again with Pillow
    here (only on this error path) to find the culprit.
    """
    culprit, reason = _first_unreadable(paths)
    if culprit is None:
        culprit = paths[0] if paths else "?"
        reason = f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}".rstrip(": ")
    return DataError(f"cannot read {culprit}: {reason}; the file is corrupt, truncated or not an image")


def _first_unreadable(paths: Sequence[str]) -> Tuple[Optional[str], str]:
    from PIL import Image, UnidentifiedImageError

    for path in paths:
        if not path:
            continue
        if not os.path.isfile(path):
            return path, "no such file"
        try:
            with Image.open(path) as im:
                im.load()
        except UnidentifiedImageError:
            return path, "not in an image format Pillow knows"
        except Exception as exc:  # noqa: BLE001 - any decoder failure names this file
            return path, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}"
    return None, ""


def check_split_not_empty(count: int, dataset: str, where: str, expected: str) -> None:
    """Raise :class:`DataError` if a dataset split has no sample.

    Args:
        count: number of samples found.
        dataset: the dataset's name or type, e.g. ``'CamVidDataset (val_dataloader)'``.
        where: the folder or file that was searched.
        expected: what would have been found, e.g. ``"'*.jpg' images"``.
    """
    if count == 0:
        raise DataError(
            f"{dataset}: no sample in {where} (expected {expected}); check the data root and "
            f"the split's folder / list file"
        )
