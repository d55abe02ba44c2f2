"""Images given to ``tools/infer.py``: finding them (files, folders, globs) and reading them in
the mode a model takes, or saying why an image cannot be used. Framework-free (Pillow, numpy).

What is converted and what is refused. A conversion is done only when it is exact, i.e. it
does not choose anything the model's training data may have done differently:

=====================  =============================  ==========================================
image mode (Pillow)     model takes RGB                model takes grey ('L')
=====================  =============================  ==========================================
``RGB``                 as is                          only if R = G = B everywhere; else refused
``L``, ``1``            grey level copied to R, G, B   as is (``1``: 0 / 255)
``P`` (palette)         palette colours                only if every palette colour used is grey
``RGBA``/``LA``/``PA``  only if fully opaque           only if fully opaque (and grey)
``I;16*``, ``I``, ``F`` refused: 16/32-bit data needs the scaling the training data had
``CMYK``, others        refused: the conversion depends on a colour profile / a choice
=====================  =============================  ==========================================

Files that Pillow cannot decode (corrupt, truncated, not an image) and files with several
frames (animated GIF, multi-page TIFF) are refused too. The EXIF orientation is applied, as
OpenCV's and detectron2's image readers do, so predictions line up with the image as viewers
show it (a TIFF with an orientation tag is refused: Pillow turns it twice). Inputs that are not
regular files (a FIFO, a socket, a device named like an image) are refused without being opened.
"""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

from segclassics.errors import UserError

#: What a folder given as input is searched for (case-insensitive), recursively.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
MODES = ("RGB", "L")


class ImageInputError(UserError):
    """One input image cannot be used (unreadable, or a mode that has no exact conversion)."""


@dataclass(frozen=True)
class InputImage:
    """An image to predict on: its ``path`` and ``name``, the output path stem relative to the
    output folder (``sub/dir/file`` for a file found in a folder input, the file's stem otherwise)."""

    path: str
    name: str


def _is_image_file(path: str) -> bool:
    return os.path.isfile(path) and path.lower().endswith(IMAGE_EXTENSIONS)


def _not_a_regular_file(path: str) -> str:
    """Why ``path`` is no regular file ("" if it is one): reading a FIFO, a socket or a device
    would wait for a writer that may never come."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return exc.strerror or "cannot be read"
    if stat.S_ISREG(mode):
        return ""
    kind = (
        "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )
    return f"is {kind}, not an image file; it is not read"


def find_inputs(arguments: Sequence[str]) -> List[InputImage]:
    """The images named by ``arguments``: files (any extension: an unreadable one is reported
    when read), folders (their image files, recursively, sorted) and glob patterns (``*``,
    ``?``, ``[...]``, ``**``; for when the shell did not expand them).

    Raises :class:`UserError` for an argument that names nothing, a folder without images, or
    two inputs that would write the same output name.
    """
    found: List[InputImage] = []
    for arg in arguments:
        if os.path.isdir(arg):
            files = sorted(
                os.path.join(root, f)
                for root, _, names in os.walk(arg)
                for f in names
                if f.lower().endswith(IMAGE_EXTENSIONS)
            )
            if not files:
                raise UserError(
                    f"input folder {arg!r} holds no image file (searched recursively for {', '.join(IMAGE_EXTENSIONS)})"
                )
            found += [InputImage(f, os.path.splitext(os.path.relpath(f, arg))[0]) for f in files]
        elif os.path.isfile(arg) or os.path.exists(arg) and not os.path.isdir(arg):
            # a FIFO or device named as input is reported when read (read_image), not opened here
            found.append(InputImage(arg, os.path.splitext(os.path.basename(arg))[0]))
        elif glob.has_magic(arg):
            files = sorted(f for f in glob.glob(arg, recursive=True) if _is_image_file(f))
            if not files:
                raise UserError(f"input pattern {arg!r} matches no image file")
            found += [InputImage(f, os.path.splitext(os.path.basename(f))[0]) for f in files]
        else:
            raise UserError(f"input {arg!r}: no such file or folder")
    by_name: dict = {}
    for item in found:
        other = by_name.setdefault(item.name, item)
        if other is not item and os.path.abspath(other.path) != os.path.abspath(item.path):
            raise UserError(
                f"inputs {other.path!r} and {item.path!r} would both be written as {item.name!r}.png; "
                f"give them in separate runs (or folders) with different --out"
            )
    unique: dict = {}
    for item in found:  # the same file named twice: predicted once, under its first name
        unique.setdefault(os.path.abspath(item.path), item)
    return list(unique.values())


def _refuse(path: str, reason: str) -> ImageInputError:
    return ImageInputError(f"{path}: {reason}")


def _opaque(image, path: str, mode: str):
    """``image`` (a mode with alpha) without its alpha channel, if every pixel is opaque."""
    with_alpha = image.convert("RGBA" if image.mode in ("RGBA", "PA", "P") else "LA")
    alpha = np.asarray(with_alpha)[..., -1]
    if alpha.min() < 255:
        raise _refuse(
            path,
            f"has transparent pixels (mode {mode}, {int((alpha < 255).sum())} pixels with "
            f"alpha < 255); flatten it onto the background you want first",
        )
    return with_alpha.convert("RGB" if with_alpha.mode == "RGBA" else "L")


def read_image(path: str, mode: str) -> np.ndarray:
    """Read ``path`` as the model's ``mode``: ``'RGB'`` -> ``(H, W, 3)`` uint8 in R, G, B order;
    ``'L'`` -> ``(H, W)`` uint8. Raises :class:`ImageInputError` ("PATH: why") for an image that
    cannot be used (see the module docstring)."""
    from PIL import Image, ImageOps

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    reason = _not_a_regular_file(path)
    if reason:
        raise _refuse(path, reason)
    try:
        with Image.open(path) as opened:
            frames = getattr(opened, "n_frames", 1)
            if frames > 1:
                raise _refuse(path, f"has {frames} frames (an animation or multi-page file); give one image per file")
            orientation = opened.getexif().get(0x0112, 1)
            if opened.format == "TIFF" and orientation != 1:
                # Pillow's TIFF reader and its EXIF transpose each turn such an image, so it would
                # come out as stored, not as shown (found by the image property test)
                raise _refuse(
                    path,
                    f"TIFF with an orientation tag ({orientation}) that the decoder cannot apply "
                    f"reliably; save it as it is displayed, without the tag",
                )
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except ImageInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure: the file is reported and skipped
        text = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise _refuse(
            path,
            f"cannot read it as an image ({type(exc).__name__}: {text}); the file is corrupt, "
            f"truncated or not an image",
        ) from None
    source = image.mode
    if source.startswith("I") or source == "F":
        bits = "16-bit" if source.startswith("I;16") else "32-bit"
        raise _refuse(
            path,
            f"{bits} image (mode {source}); the model takes 8-bit images: convert it to 8 bit with "
            f"the scaling your training images had",
        )
    if source in ("RGBA", "LA", "PA") or (source == "P" and "transparency" in image.info):
        image = _opaque(image, path, source)
    elif source == "P":
        image = image.convert("RGB")
    elif source == "1":
        image = image.convert("L")
    elif source not in ("RGB", "L"):
        raise _refuse(
            path,
            f"mode {source} image; the model takes {'RGB' if mode == 'RGB' else 'grey (L)'} "
            f"images and converting {source} needs a choice (colour profile, weights): convert "
            f"it to {'RGB' if mode == 'RGB' else 'L'} yourself",
        )
    array = np.asarray(image)
    if mode == "RGB":
        return np.ascontiguousarray(np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array)
    if array.ndim == 2:
        return np.ascontiguousarray(array)
    if not ((array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all()):
        raise _refuse(
            path,
            f"colour image (mode {source}) but the model takes grey images: convert it to grey "
            f"(mode L) with the conversion your training images had",
        )
    return np.ascontiguousarray(array[..., 0])
