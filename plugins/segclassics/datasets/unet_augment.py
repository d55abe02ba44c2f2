"""UNet training details (Ronneberger et al. 2015, Sec. 3 and 3.1), framework-free (numpy/scipy).

* :func:`unet_weight_map` -- the pixel-wise loss weight of Eq. (2)::

      w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))

  with ``w_c`` balancing the class frequencies, ``d1``/``d2`` the distances to the border of the
  nearest and second nearest cell; paper: ``w0 = 10``, ``sigma ~ 5`` pixels. It "forces the
  network to learn the small separation borders ... between touching cells".
* :func:`elastic_deform` -- Sec. 3.1: "smooth deformations using random displacement vectors on a
  coarse 3 by 3 grid. The displacements are sampled from a Gaussian distribution with 10 pixels
  standard deviation. Per-pixel displacements are then computed using bicubic interpolation."

mmseg transforms (``segclassics.mmseg.unet_weight_map``, ``segclassics.mmseg.elastic_deformation``)
call these functions.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
from scipy import ndimage


def instances_from_semantic(
    label: np.ndarray, foreground: Union[int, Sequence[int]] = 1, min_size: int = 0
) -> np.ndarray:
    """Cell instances as 4-connected components of the foreground class(es); 0 = background."""
    fg = np.isin(label, np.atleast_1d(foreground))
    inst, n = ndimage.label(fg)
    if min_size > 0 and n:
        sizes = np.bincount(inst.ravel())
        small = sizes < min_size
        small[0] = False
        inst[small[inst]] = 0
    return inst


def border_distances(instances: np.ndarray, cutoff: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``(d1, d2)``: per pixel, Euclidean distance to the nearest and second-nearest cell
    (instance ids > 0; a pixel of a cell has distance 0 to that cell).

    Distances are computed per cell inside its bounding box grown by ``cutoff`` pixels; beyond it
    they are ``inf`` (``cutoff=None``: the whole image). Memory is ``O(H W)`` for any cell count.
    """
    if instances.ndim != 2:
        raise ValueError(f"instances must be a 2-D (H, W) id map, got shape {instances.shape}")
    h, w = instances.shape
    d1 = np.full((h, w), np.inf, dtype=np.float32)
    d2 = np.full((h, w), np.inf, dtype=np.float32)
    objects = ndimage.find_objects(instances)
    for k, sl in enumerate(objects, start=1):
        if sl is None:
            continue
        if cutoff is None:
            y0, y1, x0, x1 = 0, h, 0, w
        else:
            c = int(np.ceil(cutoff))
            y0, y1 = max(sl[0].start - c, 0), min(sl[0].stop + c, h)
            x0, x1 = max(sl[1].start - c, 0), min(sl[1].stop + c, w)
        sub = instances[y0:y1, x0:x1] != k
        d = ndimage.distance_transform_edt(sub).astype(np.float32)
        a, b = d1[y0:y1, x0:x1], d2[y0:y1, x0:x1]
        nearer = d < a
        b[...] = np.where(nearer, a, np.minimum(b, d))
        a[...] = np.where(nearer, d, a)
    return d1, d2


def class_balance_weights(label: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """``w_c``: per class ``n / (k * n_c)`` over the ``k`` classes present (mean weight 1 over the
    labelled pixels); 0 on ``ignore_index`` pixels."""
    valid = label != ignore_index
    counts = np.bincount(label[valid].ravel().astype(np.int64), minlength=num_classes)[:num_classes]
    present = counts > 0
    w_class = np.zeros(num_classes, dtype=np.float64)
    if present.any():
        w_class[present] = counts.sum() / (present.sum() * counts[present])
    wc = np.zeros(label.shape, dtype=np.float32)
    wc[valid] = w_class[np.clip(label[valid], 0, num_classes - 1)]
    return wc


def unet_weight_map(
    label: np.ndarray,
    w0: float = 10.0,
    sigma: float = 5.0,
    num_classes: int = 2,
    foreground: Union[int, Sequence[int]] = 1,
    background: int = 0,
    class_weights: Union[str, Sequence[float], None] = "balanced",
    instances: Optional[np.ndarray] = None,
    ignore_index: int = 255,
    background_only: bool = True,
) -> np.ndarray:
    """The UNet loss weight map of paper Eq. (2) for one label map.

    Args:
        label: ``(H, W)`` class-index map (e.g. ISBI: 0 membrane, 1 cell).
        w0, sigma: paper values 10 and about 5 pixels.
        num_classes: classes in ``label``.
        foreground: class(es) forming the cells; cells are its connected components unless
            ``instances`` is given.
        background: the class separating cells (where the border term applies).
        class_weights: ``'balanced'`` (``w_c`` from this label's class frequencies), a sequence
            of per-class weights, or ``None`` (``w_c = 1``).
        instances: optional ``(H, W)`` instance ids (0 = none) instead of connected components.
        background_only: apply the border term only to ``background`` pixels, the pixels the
            paper wants to emphasise ("background labels between touching cells"); ``False``
            applies Eq. (2) literally everywhere.

    Returns:
        ``(H, W)`` float32 weights; ``0`` where ``label == ignore_index``.
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"label must be a 2-D (H, W) class map, got shape {label.shape}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 pixels (paper: about 5), got {sigma}")
    bad = (label != ignore_index) & ((label < 0) | (label >= num_classes))
    if bad.any():
        raise ValueError(
            f"label holds values {np.unique(label[bad])[:10].tolist()} outside 0..{num_classes - 1} "
            f"(ignore_index={ignore_index}); map the label to class indices first"
        )
    if class_weights == "balanced":
        wc = class_balance_weights(label, num_classes, ignore_index)
    elif class_weights is None:
        wc = (label != ignore_index).astype(np.float32)
    else:
        cw = np.asarray(class_weights, dtype=np.float32)
        if cw.shape != (num_classes,):
            raise ValueError(f"class_weights needs {num_classes} values, got {cw.tolist()}")
        wc = np.where(label != ignore_index, cw[np.clip(label, 0, num_classes - 1)], 0).astype(np.float32)
    if instances is None:
        instances = instances_from_semantic(label, foreground)
    elif instances.shape != label.shape:
        raise ValueError(f"instances shape {instances.shape} != label shape {label.shape}")
    # beyond d2 = 4 sigma the border term is below w0 * exp(-8) (< 0.0034 for w0 = 10): cut it there
    d1, d2 = border_distances(instances, cutoff=4 * sigma)
    border = w0 * np.exp(-np.square(d1 + d2) / (2.0 * sigma**2))  # inf -> 0
    border = np.nan_to_num(border, nan=0.0).astype(np.float32)
    if background_only:
        border = np.where(label == background, border, 0.0)
    return np.where(label != ignore_index, wc + border, 0.0).astype(np.float32)


def elastic_displacement(
    shape: Tuple[int, int], sigma: float = 10.0, grid: int = 3, rng: Optional[np.random.Generator] = None
) -> np.ndarray:
    """Per-pixel displacement field ``(2, H, W)`` (dy, dx): Gaussian displacements with std
    ``sigma`` pixels on a ``grid x grid`` coarse grid spanning the image, bicubically interpolated."""
    rng = np.random.default_rng() if rng is None else rng
    h, w = shape
    coarse = rng.normal(0.0, sigma, size=(2, grid, grid))

    # bicubic (tensor-product cubic spline) through the grid points, grid corners at the image
    # corners; separable, so interpolate the basis along each axis and combine: Wy @ C @ Wx^T
    def basis(n):
        pos = np.linspace(0, grid - 1, n)
        return np.stack(
            [ndimage.map_coordinates(np.eye(grid)[k], [pos], order=3, mode="nearest") for k in range(grid)], axis=1
        )  # (n, grid)

    wy, wx = basis(h), basis(w)
    return np.stack([wy @ c @ wx.T for c in coarse])


def elastic_deform(
    image: np.ndarray,
    label: Optional[np.ndarray] = None,
    sigma: float = 10.0,
    grid: int = 3,
    rng: Optional[np.random.Generator] = None,
    image_order: int = 1,
    extra: Sequence[np.ndarray] = (),
):
    """Elastically deform ``image`` (``(H, W)`` or ``(H, W, C)``) and, with the same field, ``label``
    (nearest neighbour, so class indices stay class indices) and any ``extra`` ``(H, W)`` maps
    (linear). Borders are mirrored. The paper interpolates the *displacements* bicubically; the
    image is resampled with ``image_order`` (1 = linear, fast; 3 = cubic).
    Returns ``(image, label, *extra)`` with the input dtypes.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    h, w = image.shape[:2]
    if label is not None and label.shape[:2] != (h, w):
        raise ValueError(f"label shape {label.shape} does not match image {(h, w)}")
    disp = elastic_displacement((h, w), sigma, grid, rng)
    gy, gx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    coords = [gy + disp[0], gx + disp[1]]

    def warp(a, order):
        out = ndimage.map_coordinates(a.astype(np.float32), coords, order=order, mode="mirror")
        if np.issubdtype(a.dtype, np.integer):
            info = np.iinfo(a.dtype)
            out = np.clip(np.rint(out), info.min, info.max)
        return out.astype(a.dtype)

    if image.ndim == 2:
        out_img = warp(image, image_order)
    else:
        out_img = np.stack([warp(image[..., c], image_order) for c in range(image.shape[2])], axis=-1)
    out = [out_img, None if label is None else warp(label, 0)]
    out += [warp(e, 1) for e in extra]
    return tuple(out)
