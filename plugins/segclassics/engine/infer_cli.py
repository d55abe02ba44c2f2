"""Command line of ``tools/infer.py``: predict on images with a trained checkpoint.

    infer.py CONFIG CHECKPOINT INPUT... --out DIR [--device cpu|cuda[:N]] [--amp] [--batch N]
             [--score-thr T] [--cfg-options KEY=VALUE ...] [--trust-checkpoint] [--debug]

INPUT: image files, folders (searched recursively) and glob patterns. Outputs, named after the
inputs (a file found in a folder keeps its path below that folder), always ``.png``:

* semantic segmentation: ``DIR/labels/NAME.png``, the class index of every pixel (8-bit grey;
  16-bit when there are more than 256 classes), and ``DIR/overlays/NAME.png``, the image with
  each class's palette colour blended in at 50 %;
* instance segmentation: ``DIR/overlays/NAME.png`` (masks, boxes and captions of the instances
  scoring at least ``--score-thr``) and ``DIR/instances.json``, a COCO-format file (``images``,
  ``categories`` with ids 1..K for the model's classes 0..K-1, ``annotations`` with RLE
  ``segmentation``, ``bbox`` [x, y, w, h], ``area`` and ``score``) holding the same instances.

An image that cannot be used (unreadable, or a mode without an exact conversion to what the
model takes; see :mod:`segclassics.datasets.image_input`) is reported as ``skipped: PATH: why``
and the run goes on. At the end: a speed line and ``summary: N done, M skipped; outputs in DIR``.

Exit status: 0 when every image was done; 3 when the run finished but skipped at least one
image; 2 for an error in the arguments, config, checkpoint or inputs (one ``error:`` line,
nothing predicted).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List, Optional, Sequence

import numpy as np

from segclassics.utils.cli_args import add_amp, add_cfg_options, add_debug, add_overwrite, add_trust_checkpoint

from ..errors import UserError
from ..utils.reporting import run_reporting_user_errors

#: Exit status of a run that finished but skipped at least one image.
EXIT_SKIPPED = 3


def infer_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="infer.py",
        description="Predict on images with a trained checkpoint; write "
        "label PNGs and overlays (semantic) or overlays and COCO JSON (instances).",
    )
    p.add_argument("config", help="the config the checkpoint was trained with (mmseg, mmdet, detectron2 .py/.yaml)")
    p.add_argument("checkpoint", help="training checkpoint, last_weights.pth or a published weights file")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, glob patterns")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available, else cpu)")
    add_amp(p)
    p.add_argument("--batch", type=int, default=1, help="images per forward pass (default 1)")
    p.add_argument(
        "--score-thr",
        type=float,
        default=0.5,
        help="instances: lowest score kept in the overlays and the JSON (default 0.5)",
    )
    add_cfg_options(
        p,
        note="for prediction, e.g. model.test_cfg.batch_tiles=4 (mmengine) or "
        "INPUT.MIN_SIZE_TEST=256 (detectron2 yaml)",
    )
    add_trust_checkpoint(p)
    add_overwrite(p, "outputs already in --out (an earlier run's)")
    add_debug(p)
    return p


# ----------------------------------------------------------------------------- progress


class SimpleProgress:
    """Progress line on stderr (count and images/s) for when tqdm is not installed."""

    def __init__(self, total: int):
        self.total, self.n, self.start = total, 0, time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n
        rate = self.n / max(time.perf_counter() - self.start, 1e-9)
        print(f"\r{self.n}/{self.total} images, {rate:.2f} images/s", end="", file=sys.stderr, flush=True)

    def write(self, text: str, file=sys.stderr) -> None:
        print(("\n" if self.n else "") + text, file=file, flush=True)

    def close(self) -> None:
        print(file=sys.stderr, flush=True)


def progress_bar(total: int):
    try:
        from tqdm import tqdm
    except ImportError:
        return SimpleProgress(total)
    # rate_noinv_fmt: always images/s (tqdm's default turns a rate below 1 into s/image)
    return tqdm(
        total=total,
        unit=" images",
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}]",
    )


# ----------------------------------------------------------------------------- outputs


def _save_png(array: np.ndarray, path: str) -> None:
    from segclassics.utils.writer import save_png

    save_png(path, array, what="--out")


def index_png(labels: np.ndarray) -> np.ndarray:
    """Class indices as stored in a label PNG: uint8 up to 255, else uint16."""
    if labels.size and (labels.min() < 0 or labels.max() > 65535):
        raise ValueError(f"class indices {labels.min()}..{labels.max()} do not fit a 16-bit PNG")
    return labels.astype(np.uint8 if not labels.size or labels.max() < 256 else np.uint16)


def rle(mask: np.ndarray) -> dict:
    """COCO run-length encoding of a ``(H, W)`` bool mask, ``counts`` as text (JSON-ready)."""
    from pycocotools import mask as mask_utils

    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


class PredictionWriter:
    """Writes each image's outputs (see the module docstring) and, at :meth:`close`, the COCO JSON."""

    def __init__(self, out: str, predictor, score_thr: float):
        self.out, self.predictor, self.score_thr = out, predictor, score_thr
        self.images: List[dict] = []
        self.annotations: List[dict] = []
        self.num_labels = max(len(predictor.classes), predictor.num_classes or 0)

    def _palette(self, needed: int) -> np.ndarray:
        from segclassics.utils.overlay import as_palette

        return as_palette(self.predictor.palette, max(needed, len(self.predictor.classes), 1))

    def outputs(self, name: str) -> List[str]:
        """The files :meth:`write` writes for the input ``name``."""
        if self.predictor.task == "semantic":
            return [os.path.join(self.out, "labels", name + ".png"), os.path.join(self.out, "overlays", name + ".png")]
        return [os.path.join(self.out, "overlays", name + ".png")]

    def check(self, names: Sequence[str]) -> None:
        """Every output of the run may be written (:func:`segclassics.utils.writer.check_writable`):
        checked before the first image is predicted, so a refusal costs no work and leaves no
        half-written folder."""
        from segclassics.utils.writer import check_writable

        paths = [p for name in names for p in self.outputs(name)]
        if self.predictor.task == "instance":
            paths.append(os.path.join(self.out, "instances.json"))
        for path in paths:
            check_writable(path, what="--out")

    def write(self, name: str, path: str, image: np.ndarray, prediction) -> None:
        from segclassics.utils.overlay import instance_overlay, semantic_overlay

        if self.predictor.task == "semantic":
            labels = prediction.labels
            _save_png(index_png(labels), os.path.join(self.out, "labels", name + ".png"))
            palette = self._palette(int(labels.max()) + 1 if labels.size else 0)
            _save_png(semantic_overlay(image, labels, palette), os.path.join(self.out, "overlays", name + ".png"))
            return
        keep = prediction.scores >= self.score_thr
        boxes, scores, labels = prediction.boxes[keep], prediction.scores[keep], prediction.labels[keep]
        masks = prediction.masks[keep] if len(prediction.masks) else prediction.masks
        palette = self._palette(int(labels.max()) + 1 if labels.size else 0)
        names = self.predictor.classes
        _save_png(
            instance_overlay(image, masks, boxes, labels, scores, names, palette),
            os.path.join(self.out, "overlays", name + ".png"),
        )
        image_id = len(self.images) + 1
        self.images.append(
            {"id": image_id, "file_name": path, "height": int(image.shape[0]), "width": int(image.shape[1])}
        )
        for i in range(len(boxes)):
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            annotation = {
                "id": len(self.annotations) + 1,
                "image_id": image_id,
                "category_id": int(labels[i]) + 1,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "score": float(scores[i]),
                "iscrowd": 0,
            }
            if len(masks):
                annotation["segmentation"] = rle(masks[i])
                annotation["area"] = int(masks[i].sum())
            else:
                annotation["area"] = (x2 - x1) * (y2 - y1)
            self.annotations.append(annotation)
        self.num_labels = max(self.num_labels, int(labels.max()) + 1 if labels.size else 0)

    def close(self) -> Optional[str]:
        """Write ``instances.json`` (instance models); returns its path."""
        if self.predictor.task != "instance":
            return None
        names = self.predictor.classes
        categories = [
            {"id": k + 1, "name": names[k] if k < len(names) else f"class_{k}"} for k in range(self.num_labels)
        ]
        from segclassics.utils.writer import write_text

        path = os.path.join(self.out, "instances.json")
        text = json.dumps(
            {"images": self.images, "categories": categories, "annotations": self.annotations}, allow_nan=False
        )
        return write_text(path, text, what="--out")


# ----------------------------------------------------------------------------- the run


def _out_of_memory(exc: BaseException) -> bool:
    return (
        isinstance(exc, MemoryError)
        or isinstance(exc, RuntimeError)
        and any(
            text in str(exc)
            for text in ("can't allocate memory", "out of memory", "not enough memory", "DefaultCPUAllocator")
        )
    )


def _predict_or_skip(predictor, items, images, progress, skipped: list) -> list:
    """``(item, image, prediction)`` for a batch. When the model refuses an input (``ValueError``,
    e.g. a size it cannot take) or the memory does not suffice for it, the images are retried one
    by one and those that fail alone are reported by name and skipped; the run goes on."""
    try:
        return list(zip(items, images, predictor.predict(images)))
    except (ValueError, MemoryError, RuntimeError) as exc:
        if not isinstance(exc, ValueError) and not _out_of_memory(exc):
            raise
        if len(images) > 1:
            return [
                result
                for item, image in zip(items, images)
                for result in _predict_or_skip(predictor, [item], [image], progress, skipped)
            ]
        height, width = images[0].shape[:2]
        if isinstance(exc, ValueError):
            message = (
                f"{items[0].path}: the model cannot take this {width}x{height} image (after the config's "
                f"test pipeline): {str(exc).splitlines()[0]}"
            )
        else:
            message = (
                f"{items[0].path}: this {width}x{height} image needs more memory than is available here "
                f"({str(exc).splitlines()[0][:120]}); predict it on a larger machine or downscale it"
            )
    skipped.append(message)
    progress.write(f"skipped: {message}", file=sys.stderr)
    progress.update(1)
    return []


def run(args) -> int:
    from segclassics.datasets.image_input import ImageInputError, find_inputs, read_image

    from .inference import build_predictor

    if args.batch < 1:
        raise UserError(f"--batch {args.batch}: give at least 1")
    from segclassics.utils.writer import WriteError

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise WriteError(f"--out {args.out} is a file; give a folder for the predictions")
    inputs = find_inputs(args.inputs)
    predictor = build_predictor(
        args.config, args.checkpoint, args.device, args.cfg_options, trusted=args.trust_checkpoint, amp=args.amp
    )
    writer = PredictionWriter(args.out, predictor, args.score_thr)
    writer.check([item.name for item in inputs])
    progress = progress_bar(len(inputs))
    done, skipped = 0, []
    start = time.perf_counter()
    for first in range(0, len(inputs), args.batch):
        items, images = [], []
        for item in inputs[first : first + args.batch]:
            try:
                images.append(read_image(item.path, predictor.image_mode))
                items.append(item)
            except ImageInputError as exc:
                skipped.append(str(exc))
                progress.write(f"skipped: {exc}", file=sys.stderr)
                progress.update(1)
        if not images:
            continue
        for item, image, prediction in _predict_or_skip(predictor, items, images, progress, skipped):
            writer.write(item.name, item.path, image, prediction)
            done += 1
            progress.update(1)
    elapsed = time.perf_counter() - start
    json_path = writer.close()
    progress.close()
    out = os.path.abspath(args.out)
    if done:
        print(
            f"speed: {done} images in {elapsed:.1f} s, {done / elapsed:.2f} images/s (reading, predicting, "
            f"writing; model loading excluded)"
        )
    if json_path:
        print(f"instances: {os.path.abspath(json_path)}")
    print(f"summary: {done} done, {len(skipped)} skipped; outputs in {out}")
    return EXIT_SKIPPED if skipped else 0


def infer_main(argv: Optional[Sequence[str]] = None) -> int:
    from segclassics.utils.writer import overwriting

    args = infer_parser().parse_intermixed_args(argv)
    with overwriting(args.overwrite):
        return run_reporting_user_errors(lambda: run(args), args.debug, args.config, trust_flag=True)
