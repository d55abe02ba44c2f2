"""Colour overlays of predictions on their images (numpy + Pillow, no framework).

Colours come from the dataset's palette (the checkpoint's or the config's ``dataset_meta``);
:func:`fallback_palette` fills in classes that have none.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

#: Weight of the class colour in an overlay pixel (the image has ``1 - ALPHA``).
ALPHA = 0.5


def fallback_palette(num_classes: int, seed: int = 0) -> np.ndarray:
    """``(num_classes, 3)`` uint8 colours, the same for the same arguments (a fixed random stream,
    as mmseg does for datasets without a palette)."""
    return np.random.RandomState(seed).randint(0, 256, size=(num_classes, 3)).astype(np.uint8)


def as_palette(palette: Optional[Sequence], num_classes: int) -> np.ndarray:
    """``palette`` (a list of RGB triples, possibly too short or None) as ``(num_classes, 3)`` uint8,
    completed with :func:`fallback_palette` colours."""
    out = fallback_palette(num_classes)
    if palette is not None and len(palette):
        given = np.asarray(palette, dtype=np.int64).reshape(-1, 3)[:num_classes]
        if given.min() < 0 or given.max() > 255:
            raise ValueError(f"palette colours must be 0..255 RGB triples, got values {given.min()}..{given.max()}")
        out[: len(given)] = given
    return out


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def semantic_overlay(image: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """``(H, W, 3)`` uint8: ``(1 - alpha) * image + alpha * palette[labels]``, rounded.

    Args:
        image: ``(H, W, 3)`` RGB or ``(H, W)`` grey uint8.
        labels: ``(H, W)`` integer class indices ``< len(palette)``.
        palette: ``(K, 3)`` uint8.
    """
    if image.shape[:2] != labels.shape:
        raise ValueError(f"image {image.shape[:2]} and labels {labels.shape} differ in size")
    blended = (1 - alpha) * _rgb(image).astype(np.float32) + alpha * palette[labels].astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def instance_overlay(
    image: np.ndarray,
    masks: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
    palette: np.ndarray,
    alpha: float = ALPHA,
) -> np.ndarray:
    """``(H, W, 3)`` uint8: each instance's mask blended in its class colour (later instances on
    top), its box outlined and captioned ``"<class> <score>"``.

    Args:
        image: ``(H, W, 3)`` RGB or ``(H, W)`` grey uint8.
        masks: ``(N, H, W)`` bool. boxes: ``(N, 4)`` x1, y1, x2, y2 in pixels.
        labels: ``(N,)`` class indices. scores: ``(N,)``.
    """
    from PIL import Image, ImageDraw

    out = _rgb(image).astype(np.float32)
    for mask, label in zip(masks, labels):
        out[mask] = (1 - alpha) * out[mask] + alpha * palette[label].astype(np.float32)
    canvas = Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for box, label, score in zip(boxes, labels, scores):
        colour = tuple(int(c) for c in palette[label])
        x1, y1, x2, y2 = (float(v) for v in box)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=1)
        name = class_names[label] if label < len(class_names) else str(int(label))
        draw.text((x1 + 2, max(y1 - 11, 0)), f"{name} {float(score):.2f}", fill=colour)
    return np.asarray(canvas)
