"""Synthetic shapes: segclassics' embedded default dataset (framework-free: numpy, PIL, pycocotools).

Every image holds several textured shapes of ``NUM_SHAPES`` classes (disk, square, triangle,
ring, cross) at random positions, scales and rotations on a varied background (colour
gradients, blobs, stripes/checker/noise textures), followed by Gaussian noise and sometimes a
slight blur. Shapes are drawn in order, so later shapes occlude earlier ones and the labels
describe what is *visible*. Colours and textures are drawn independently of the class (shape
and background share one colour distribution), so only the *shape* tells the class apart:
a per-pixel colour classifier does poorly while a convolutional network learns it.

Layout written under ``root`` (mmseg's layout plus COCO instances)::

    root/meta.json                          parameters + generator version (+ class pixel counts)
    root/img_dir/{train,val}/NNNN.png       RGB uint8
    root/ann_dir/{train,val}/NNNN.png       uint8 index: 0 background, 1..K shapes, 255 ignore
    root/annotations/instances_{train,val}.json   COCO instances (RLE, file_name relative to root)

Ignore (255) is used sparingly: visible fragments of a shape smaller than ``MIN_AREA`` pixels
(left by occlusion, or shapes pushed mostly out of the frame) are neither annotated as COCO
instances nor counted as their class in the label map; they are marked ignore instead.

Generation is deterministic per ``(seed, split, index)`` (one ``numpy.random.Generator`` per
image), so two generations with the same parameters are byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from typing import Iterator, Sequence

import numpy as np
from PIL import Image, ImageFilter

from segclassics.errors import UserError
from segclassics.utils.writer import save_image, write_text


class SyntheticSizeError(UserError, ValueError):
    """A size or image count the generator cannot make (from a config or the command line)."""


class DataRootTakenError(UserError, FileExistsError):
    """The folder given for the synthetic data holds something else: it is never written into."""


__all__ = [
    "CLASSES",
    "PALETTE",
    "GENERATOR_VERSION",
    "MIN_AREA",
    "STYLE",
    "generate",
    "ensure_synthetic",
    "ensure_current",
    "prepare",
    "default_root",
    "render_sample",
    "read_meta",
]

CLASSES = ("background", "disk", "square", "triangle", "ring", "cross")
PALETTE = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48]]
NUM_SHAPES = len(CLASSES) - 1
IGNORE_INDEX = 255
MIN_AREA = 12  # visible fragments smaller than this (pixels) are ignore, not instances
GENERATOR_VERSION = 2
# Difficulty knobs, recorded in meta.json (a dataset made with other values is regenerated).
STYLE = dict(
    shapes_per_image=(1, 4),  # inclusive range
    radius=(0.15, 0.3),  # shape 'radius' as a fraction of min(H, W)
    solid_shape_prob=0.5,  # otherwise stripes / checker / noise / gradient fill
    # low-contrast texture over the background gradient
    background_texture_prob=0.5,
    background_texture_contrast=0.3,
    noise_sigma=(2.0, 6.0),  # Gaussian pixel noise, sigma drawn per image
    blur_prob=0.3,
)
_SPLITS = {"train": 0, "val": 1}
#: Where configs read the synthetic shapes unless told otherwise; ``$SEGCLASSICS_SYNTHETIC_ROOT``
#: moves it. Only there is a missing dataset generated without being asked (see :func:`prepare`).
DEFAULT_ROOT = "data/synthetic"
ROOT_ENV = "SEGCLASSICS_SYNTHETIC_ROOT"


# ----------------------------------------------------------------------------- rendering


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3)


def _texture(
    rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, kind: int | None = None, contrast: float = 1.0
) -> np.ndarray:
    """A random (H, W, 3) float texture: 0 solid, 1 stripes, 2 checker, 3 noise, 4 gradient.

    ``contrast`` scales the difference between the texture's two colours.
    """
    h, w = yy.shape
    c1 = _random_colour(rng)
    kind = int(rng.integers(5)) if kind is None else kind
    if kind == 0:  # solid
        return np.broadcast_to(c1, (h, w, 3)).copy()
    c2 = c1 + contrast * (_random_colour(rng) - c1)
    if kind == 1:  # stripes
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(4, 12)
        t = (np.cos(theta) * xx + np.sin(theta) * yy) / period
        a = (np.floor(t) % 2)[..., None]
    elif kind == 2:  # checker
        period = rng.uniform(4, 12)
        a = ((np.floor(xx / period) + np.floor(yy / period)) % 2)[..., None]
    elif kind == 3:  # smooth-ish noise (low-res noise upsampled)
        cells = int(rng.integers(4, 12))
        low = rng.uniform(0, 1, size=(cells, cells)).astype(np.float32)
        a = np.asarray(Image.fromarray(low).resize((w, h), Image.BILINEAR))[..., None]
    else:  # gradient
        theta = rng.uniform(0, 2 * np.pi)
        t = np.cos(theta) * xx / max(w, 1) + np.sin(theta) * yy / max(h, 1)
        a = ((t - t.min()) / max(t.max() - t.min(), 1e-6))[..., None]
    return c1 * (1 - a) + c2 * a


def _background(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A colour gradient, often overlaid with a low-contrast texture, plus a few soft blobs."""
    h, w = yy.shape
    img = _texture(rng, yy, xx, kind=4)
    if rng.uniform() < STYLE["background_texture_prob"]:
        tex = _texture(rng, yy, xx, kind=int(rng.integers(1, 4)), contrast=STYLE["background_texture_contrast"])
        img = img + tex - tex.mean((0, 1))
    for _ in range(int(rng.integers(0, 4))):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        s = rng.uniform(0.05, 0.3) * min(h, w)
        wgt = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))[..., None] * rng.uniform(0.4, 1.0)
        img = img * (1 - wgt) + _random_colour(rng) * wgt
    return img


def _shape_mask(
    cls: int, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, r: float, theta: float, rng: np.random.Generator
) -> np.ndarray:
    """Boolean mask of shape class ``cls`` (1..NUM_SHAPES) centred at (cy, cx), 'radius' r."""
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(theta), np.sin(theta)
    u = c * dx + s * dy  # rotated coordinates
    v = -s * dx + c * dy
    name = CLASSES[cls]
    if name == "disk":
        return u * u + v * v <= r * r
    if name == "square":
        half = r * 0.8
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if name == "triangle":  # equilateral, circumradius 1.3 r (area ~ other classes): 3 half-planes
        r = 1.3 * r
        inside = np.ones_like(u, dtype=bool)
        for k in range(3):
            a = 2 * np.pi * k / 3 + np.pi / 2
            inside &= (np.cos(a) * u + np.sin(a) * v) <= r / 2
        return inside
    if name == "ring":
        inner = r * rng.uniform(0.45, 0.65)
        d2 = u * u + v * v
        return (d2 <= r * r) & (d2 >= inner * inner)
    if name == "cross":
        arm = r * rng.uniform(0.25, 0.35)
        return ((np.abs(u) <= arm) & (np.abs(v) <= r)) | ((np.abs(v) <= arm) & (np.abs(u) <= r))
    raise ValueError(f"unknown shape class {cls}; expected 1..{NUM_SHAPES}")


def render_sample(seed: int, split: str, index: int, size: Sequence[int] = (128, 128)):
    """Render one sample deterministically.

    Returns:
        image: (H, W, 3) uint8 RGB.
        label: (H, W) uint8, 0 background, 1..NUM_SHAPES shape class, 255 ignore.
        instances: list of ``(class_id, mask)`` with mask an (H, W) bool array of the visible
            part (area >= MIN_AREA), in drawing order.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
    h, w = int(size[0]), int(size[1])
    rng = np.random.default_rng([int(seed), _SPLITS[split], int(index)])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = _background(rng, yy, xx)
    owner = np.full((h, w), -1, dtype=np.int32)  # index of the shape visible at each pixel
    classes = []
    n_shapes = int(rng.integers(STYLE["shapes_per_image"][0], STYLE["shapes_per_image"][1] + 1))
    m = min(h, w)
    for k in range(n_shapes):
        cls = int(rng.integers(1, NUM_SHAPES + 1))
        r = rng.uniform(*STYLE["radius"]) * m
        cy, cx = rng.uniform(0.05 * h, 0.95 * h), rng.uniform(0.05 * w, 0.95 * w)
        mask = _shape_mask(cls, yy, xx, cy, cx, r, rng.uniform(0, 2 * np.pi), rng)
        tex = _texture(rng, yy, xx, kind=0 if rng.uniform() < STYLE["solid_shape_prob"] else None)
        img[mask] = tex[mask]
        owner[mask] = k
        classes.append(cls)
    # Photometric nuisance: Gaussian noise, sometimes a slight blur (labels unchanged).
    img = img + rng.normal(0, rng.uniform(*STYLE["noise_sigma"]), size=img.shape)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if rng.uniform() < STYLE["blur_prob"]:
        image = np.array(Image.fromarray(image).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.0))))

    label = np.zeros((h, w), dtype=np.uint8)
    instances = []
    for k, cls in enumerate(classes):
        visible = owner == k
        area = int(visible.sum())
        if area == 0:
            continue
        if area < MIN_AREA:
            label[visible] = IGNORE_INDEX
            continue
        label[visible] = cls
        instances.append((cls, visible))
    return image, label, instances


# ----------------------------------------------------------------------------- writing


def _coco_annotation(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_util

    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    bbox = [float(b) for b in mask_util.toBbox(rle)]
    rle["counts"] = rle["counts"].decode("ascii")
    return dict(
        segmentation=dict(size=[int(s) for s in rle["size"]], counts=rle["counts"]),
        bbox=bbox,
        area=int(mask.sum()),
        iscrowd=0,
    )


def _params(num_train, num_val, size, seed) -> dict:
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(int(s) >= 16 for s in size)):
        raise SyntheticSizeError(f"size must be (H, W) with H, W >= 16, got {size!r}")
    for name, v in (("num_train", num_train), ("num_val", num_val)):
        if int(v) < 0:
            raise SyntheticSizeError(f"{name} must be >= 0, got {v!r}")
    return dict(
        version=GENERATOR_VERSION,
        num_train=int(num_train),
        num_val=int(num_val),
        size=[int(size[0]), int(size[1])],
        seed=int(seed),
        classes=list(CLASSES),
        style=json.loads(json.dumps(STYLE)),
    )


def _write(root: str, params: dict) -> None:
    """Write the dataset into ``root`` (which must be a fresh, empty or absent directory)."""
    size = params["size"]
    categories = [dict(id=i, name=n, supercategory="shape") for i, n in enumerate(CLASSES) if i > 0]
    pixel_counts = {}
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    for split, count in (("train", params["num_train"]), ("val", params["num_val"])):
        img_dir = os.path.join(root, "img_dir", split)
        ann_dir = os.path.join(root, "ann_dir", split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        images, annotations = [], []
        hist = np.zeros(256, dtype=np.int64)
        for i in range(count):
            image, label, instances = render_sample(params["seed"], split, i, size)
            name = f"{i:04d}.png"
            save_image(os.path.join(img_dir, name), Image.fromarray(image, mode="RGB"))
            save_image(os.path.join(ann_dir, name), Image.fromarray(label, mode="L"))
            hist += np.bincount(label.ravel(), minlength=256)
            images.append(
                dict(
                    id=i,
                    file_name=f"img_dir/{split}/{name}",
                    sem_seg_file_name=f"ann_dir/{split}/{name}",
                    height=size[0],
                    width=size[1],
                )
            )
            for cls, mask in instances:
                ann = _coco_annotation(mask)
                ann.update(id=len(annotations) + 1, image_id=i, category_id=cls)
                annotations.append(ann)
        coco = dict(
            info=dict(description=f"segclassics synthetic shapes ({split})", version=str(GENERATOR_VERSION)),
            images=images,
            annotations=annotations,
            categories=categories,
        )
        write_text(os.path.join(root, "annotations", f"instances_{split}.json"), json.dumps(coco))
        pixel_counts[split] = {n: int(hist[i]) for i, n in enumerate(CLASSES)}
        pixel_counts[split]["ignore"] = int(hist[IGNORE_INDEX])
    meta = dict(params, pixel_counts=pixel_counts)
    write_text(os.path.join(root, "meta.json"), json.dumps(meta, indent=1, sort_keys=True))


def generate(
    root: str, num_train: int = 160, num_val: int = 40, size: Sequence[int] = (128, 128), seed: int = 0
) -> str:
    """Write the synthetic dataset to ``root`` unconditionally (``root`` must not hold other files).

    Prefer :func:`ensure_synthetic`, which is idempotent and safe under concurrency. Returns root.
    """
    params = _params(num_train, num_val, size, seed)
    if os.path.isdir(root) and os.listdir(root):
        raise DataRootTakenError(
            f"generate() writes into an empty or absent folder; {root!r} is not empty "
            f"(use ensure_synthetic({root!r}, ...) to (re)generate in place)"
        )
    _write(root, params)
    return root


def read_meta(root: str) -> dict | None:
    """The ``meta.json`` of a generated dataset, or None if there is none (or it is unreadable)."""
    try:
        with open(os.path.join(root, "meta.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _matches(meta: dict | None, params: dict) -> bool:
    return meta is not None and all(meta.get(k) == v for k, v in params.items())


@contextlib.contextmanager
def _locked(root: str, timeout: float = 600.0) -> Iterator[None]:
    """An inter-process lock on ``<parent>/.<name>.lock`` (fcntl; a no-op where unavailable)."""
    parent, name = os.path.split(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover (non-POSIX): rely on the atomic rename alone
        yield
        return
    with open(os.path.join(parent, f".{name}.lock"), "a") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"waited {timeout:.0f}s for another process generating {root!r}; "
                        f"remove {fh.name!r} if no such process runs"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _check_ours(root: str, meta: dict | None) -> None:
    if os.path.exists(root) and not os.path.isdir(root):
        raise DataRootTakenError(f"{root!r} exists and is not a folder; choose another data_root")
    if meta is None and os.path.isdir(root) and os.listdir(root):
        raise DataRootTakenError(
            f"{root!r} exists and is not a segclassics synthetic dataset (no readable meta.json); "
            f"refusing to overwrite it. Choose another data_root or remove the folder."
        )


def ensure_synthetic(
    root: str,
    num_train: int = 160,
    num_val: int = 40,
    size: Sequence[int] = (128, 128),
    seed: int = 0,
    verbose: bool = False,
) -> bool:
    """Make sure ``root`` holds the synthetic dataset with these parameters.

    Generates it if ``root`` is absent or empty, regenerates it if its ``meta.json`` records
    other parameters (or another generator version), does nothing if it matches. Generation
    goes to a temporary sibling folder that is renamed into place, under a file lock, so a
    crash never leaves a half dataset and concurrent callers (e.g. several ranks) are safe.

    Returns True if it (re)generated, False if the data was already there.

    Raises:
        FileExistsError: ``root`` is a non-empty folder without our ``meta.json`` (we never
            delete data we did not write).
    """
    params = _params(num_train, num_val, size, seed)
    root = os.path.abspath(root)
    meta = read_meta(root)
    if _matches(meta, params):
        return False
    _check_ours(root, meta)
    with _locked(root):
        meta = read_meta(root)
        if _matches(meta, params):  # another process made it while we waited
            return False
        _check_ours(root, meta)
        parent, name = os.path.split(root)
        if verbose:
            what = "regenerating" if meta is not None else "generating"
            print(
                f"[segclassics] {what} synthetic shapes in {root} ({params['num_train']} train / "
                f"{params['num_val']} val, size {tuple(params['size'])}, seed {params['seed']})",
                flush=True,
            )
        tmp = tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent)
        try:
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the dataset is not
            _write(tmp, params)
            if os.path.isdir(root):
                if meta is None:  # empty folder
                    os.rmdir(root)
                    os.rename(tmp, root)
                else:  # swap the old dataset out, then delete it
                    old = tempfile.mkdtemp(prefix=f".{name}.old-", dir=parent)
                    os.rename(root, os.path.join(old, name))
                    os.rename(tmp, root)
                    shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return True


def ensure_current(root: str, verbose: bool = True) -> bool:
    """What the dataset classes call: make ``root`` a usable, up-to-date synthetic dataset.

    * absent or empty ``root``: generate with the defaults;
    * a dataset from an older generator version or other ``STYLE``: regenerate it with the
      sizes / seed its ``meta.json`` records;
    * up to date (any sizes / seed, e.g. from ``make_synthetic.py``): nothing.

    A non-empty folder without ``meta.json`` is left alone (returns False): it may be a
    dataset in the same layout made some other way. Returns True if it wrote data.
    """
    meta = read_meta(root)
    if meta is None:
        if os.path.isdir(root) and os.listdir(root):
            return False
        return ensure_synthetic(root, verbose=verbose)
    try:
        return ensure_synthetic(
            root,
            num_train=meta["num_train"],
            num_val=meta["num_val"],
            size=meta["size"],
            seed=meta["seed"],
            verbose=verbose,
        )
    except (KeyError, TypeError):  # unreadable params: leave it to the caller's loader to complain
        return False


def default_root() -> str:
    """``$SEGCLASSICS_SYNTHETIC_ROOT`` if set, else ``data/synthetic`` (relative to the working directory)."""
    return os.environ.get(ROOT_ENV) or DEFAULT_ROOT


def is_default_root(root: str) -> bool:
    """Whether ``root`` is ``data/synthetic`` or ``$SEGCLASSICS_SYNTHETIC_ROOT`` (compared as absolute paths)."""
    here = os.path.abspath(root)
    return here in {os.path.abspath(DEFAULT_ROOT), os.path.abspath(default_root())}


def prepare(root: str, generate: bool | None = None, verbose: bool = True) -> bool:
    """What the datasets of each framework call before listing ``root``.

    A missing (absent or empty) dataset is generated only where that is clearly wanted: at the
    default location (:func:`default_root`) or when ``generate=True``. Anywhere else -- typically
    a misspelt ``data_root`` -- it is a :class:`~segclassics.datasets.paths.DatasetNotFoundError`
    that says how to generate there, instead of a new dataset quietly written in the wrong place.
    An existing dataset of ours made by an older generator version is regenerated in place
    (:func:`ensure_current`). Generation prints where it writes (``verbose``).

    Args:
        root: the dataset folder.
        generate: True: generate if missing, wherever ``root`` is; False: never generate a
            missing dataset; None (default): generate only at the default location.

    Returns:
        True if it wrote data.
    """
    if os.path.exists(root) and not os.path.isdir(root):
        from .paths import DatasetNotFoundError

        raise DatasetNotFoundError(
            f"{os.path.abspath(root)!r} is a file, not a folder: the synthetic shapes' data root is the folder "
            f"holding img_dir/ and ann_dir/ (or a new folder to generate them into with "
            f"python -m segclassics.tools.dataset_converters.make_synthetic DIR)"
        )
    has_meta = read_meta(root) is not None
    missing = not has_meta and not (os.path.isdir(root) and os.listdir(root))
    if missing and not (generate if generate is not None else is_default_root(root)):
        from .paths import DatasetNotFoundError

        where = os.path.abspath(root)
        why = (
            "generation is switched off (generate=False)"
            if generate is False
            else f"it is not the default location {DEFAULT_ROOT} (or ${ROOT_ENV}), so nothing is generated "
            f"there unasked"
        )
        raise DatasetNotFoundError(
            f"synthetic shapes not found in {where!r}: {why}. If the path is right, generate them with "
            f"python -m segclassics.tools.dataset_converters.make_synthetic {root} (or set generate=True on the "
            f"dataset); otherwise fix the data root"
        )
    if not has_meta and not missing:
        # a folder the generator did not make: used as it is when it has the layout, never written into
        layout = ("img_dir", "ann_dir")
        absent = [d for d in layout if not os.path.isdir(os.path.join(root, d))]
        if absent:
            from .paths import DatasetNotFoundError

            raise DatasetNotFoundError(
                f"{os.path.abspath(root)!r} is not a synthetic shapes dataset: it has no meta.json and no "
                f"{' and no '.join(absent)} folder (expected img_dir/{{train,val}} and ann_dir/{{train,val}}). "
                f"Fix the data root, or generate the shapes into a new or empty folder with "
                f"python -m segclassics.tools.dataset_converters.make_synthetic DIR"
            )
    return ensure_current(root, verbose=verbose)
