#!/usr/bin/env python
"""Figures of one training run, from the run's own logs: its training curve and its overlays.

Reads what the frameworks write, nothing else:

* mmengine (mmseg / mmdet configs): ``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON
  object per line; training lines carry ``loss``, validation lines the metrics, both ``step``);
* detectron2: ``<output_dir>/metrics.json`` (one JSON object per line, ``iteration`` 0-based,
  ``total_loss``; evaluation results such as ``sem_seg/mIoU`` or ``segm/AP50``).

Writes a PNG with two panels (training loss, and the chosen metric at each evaluation, both over
iterations) and, with ``--overlays``, a PNG tiling the first few overlay images the run wrote
(``tools/test.py --show-dir``). Both carry a title saying what the run was: ``--title`` (config,
schedule), the number of iterations found in the log, and the machine. PNGs are written as
palette images so that they stay small (tens of KB).

Example::

    python tools/analysis/plot_run.py work_dirs/unet_drive --metric Dice \\
        --title "configs/unet/unet_drive.py, DRIVE" --out docs/figures/unet_drive_curve.png \\
        --overlays work_dirs/unet_drive/overlays --overlays-out docs/figures/unet_drive_overlays.png
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import math
import os
import platform
import runpy
import sys
from typing import Dict, List, Optional, Sequence, Tuple

# segclassics importable from a source checkout (tools/_bootstrap.py)
runpy.run_path(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bootstrap.py"))

from segclassics.errors import UserError, print_error_line  # noqa: E402
from segclassics.utils.cli_args import add_debug  # noqa: E402

LOSS_KEYS = ("loss", "total_loss")  # mmengine's summed loss, detectron2's


def find_logs(path: str) -> List[str]:
    """The scalar logs of a run, oldest first: ``[path]`` if it is a file, else every
    ``<timestamp>/vis_data/scalars.json`` (mmengine writes one per session, so a resumed run has
    several) of the work dir that holds the newest one, or the newest ``metrics.json``
    (detectron2 appends every session to one file)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise UserError(f"{path}: no such file or folder (give a run's work dir or its scalars.json/metrics.json)")
    found = glob.glob(os.path.join(path, "**", "vis_data", "scalars.json"), recursive=True)
    found += glob.glob(os.path.join(path, "**", "metrics.json"), recursive=True)
    # A test run writes logs too, and tools/test.py --metrics-json a metrics.json of one JSON
    # object: the training logs are the files with a training loss on a JSON line.
    found = [f for f in found if _has_training_lines(f)]
    if not found:
        raise UserError(
            f"{path}: no vis_data/scalars.json (mmengine) or metrics.json (detectron2) with training losses in it"
        )
    newest = max(found, key=os.path.getmtime)
    if os.path.basename(newest) != "scalars.json":
        return [newest]
    work_dir = os.path.dirname(os.path.dirname(os.path.dirname(newest)))  # <work_dir>/<timestamp>/vis_data/
    sessions = [
        f
        for f in found
        if os.path.basename(f) == "scalars.json" and os.path.dirname(os.path.dirname(os.path.dirname(f))) == work_dir
    ]
    return sorted(sessions, key=os.path.getmtime)


def find_log(path: str) -> str:
    """The newest scalar log of a run (see :func:`find_logs`)."""
    return find_logs(path)[-1]


def read_run(logs: Sequence[str]) -> List[Dict[str, float]]:
    """The rows of a run's sessions (oldest first) as one log: where a resumed session logged an
    iteration again (it restarts from its checkpoint), the later session's rows are kept."""
    rows: List[Dict[str, float]] = []
    for log in logs:
        session = read_scalars(log)
        first = min(r["iter"] for r in session)
        rows = [r for r in rows if r["iter"] < first] + session
    return rows


def _has_training_lines(path: str) -> bool:
    with open(path) as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                return False
            if isinstance(row, dict) and any(k in row for k in LOSS_KEYS):
                return True
    return False


def read_scalars(log: str) -> List[Dict[str, float]]:
    """One dict per log line with an ``iter`` key (1-based iteration count, as mmengine logs it)."""
    rows = []
    with open(log) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise UserError(
                    f"{log}:{n}: not a JSON line; expected mmengine's scalars.json or detectron2's metrics.json"
                ) from None
            if "step" in row:  # mmengine
                row["iter"] = int(row["step"])
            elif "iteration" in row:  # detectron2 counts from 0
                row["iter"] = int(row["iteration"]) + 1
            else:
                continue
            rows.append(row)
    if not rows:
        raise UserError(f"{log}: no line with 'step' (mmengine) or 'iteration' (detectron2)")
    # mmengine logs validation metrics at the epoch (0 in iteration-based training) when the
    # LoggerHook keeps log_metric_by_epoch=True (mmdet's default runtime); such a line belongs to
    # the training iteration logged just before it.
    last_train = 0
    for row in rows:
        if any(k in row for k in LOSS_KEYS):
            last_train = max(last_train, row["iter"])
        elif row["iter"] < last_train:
            row["iter"] = last_train
    return rows


def series(rows: Sequence[Dict[str, float]], key: str) -> Tuple[List[int], List[float]]:
    pairs = [
        (r["iter"], float(r[key]))
        for r in rows
        if key in r and isinstance(r[key], (int, float)) and math.isfinite(float(r[key]))
    ]
    pairs.sort()
    return [p[0] for p in pairs], [p[1] for p in pairs]


def pick_loss_key(rows: Sequence[Dict[str, float]], wanted: Optional[str]) -> str:
    keys = (wanted,) if wanted else LOSS_KEYS
    for key in keys:
        if any(key in r for r in rows):
            return key
    raise UserError(
        f"no {' or '.join(repr(k) for k in keys)} in the log; available keys: {sorted({k for r in rows for k in r})}"
    )


def machine_name() -> str:
    """'2-core AMD EPYC ... CPU, no GPU' for the machine this runs on."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            model = names[0]
    except OSError:
        pass
    gpu = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    if "cpu" not in model.lower():
        model += " CPU"
    return f"{os.cpu_count()}-core {model}, {gpu}"


def _wrap(title: str, width: int = 110) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(title, width)) or title


def save_small_png(fig, out: str, colors: int = 64) -> int:
    """Save a matplotlib figure as a palette PNG; returns the file size in bytes."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    buf.seek(0)
    img = Image.open(buf).convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    img.save(out, optimize=True)
    return os.path.getsize(out)


def plot_curves(
    rows,
    loss_key: str,
    metric: str,
    title: str,
    machine: str,
    out: str,
    baseline: Optional[float] = None,
    baseline_label: str = "",
) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it_loss, loss = series(rows, loss_key)
    it_metric, values = series(rows, metric)
    if not loss:
        raise UserError(f"no finite {loss_key!r} values in the log")
    if not values:
        raise UserError(
            f"no {metric!r} in the log (it holds: "
            f"{sorted({k for r in rows for k in r if k not in ('iter', 'step', 'iteration')})})"
        )
    last = max(r["iter"] for r in rows)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.2, 2.9), dpi=90)
    ax1.plot(it_loss, loss, lw=1.2, color="tab:blue")
    ax1.set_xlabel("iteration")
    ax1.set_ylabel(loss_key)
    ax1.set_title("training loss", fontsize=9)
    ax2.plot(it_metric, values, "o-", lw=1.2, ms=4, color="tab:red")
    for x, y in zip(it_metric, values):
        ax2.annotate(f"{y:.4g}", (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    if baseline is not None:
        ax2.axhline(baseline, ls="--", lw=1, color="gray")
        ax2.annotate(
            baseline_label or f"{baseline:g}",
            (0, baseline),
            textcoords="offset points",
            xytext=(3, -10),
            fontsize=7,
            color="gray",
        )
    top = max(values + ([baseline] if baseline is not None else []))
    ax2.set_ylim(0, top * 1.25 if top > 0 else 1)
    ax2.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax2.set_xlabel("iteration")
    ax2.set_ylabel(metric)
    ax2.set_xlim(0, last * 1.05)
    ax2.set_title(f"{metric} at each evaluation", fontsize=9)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    fig.suptitle(f"{_wrap(title)}\n{last} iterations on {machine}", fontsize=8)
    fig.tight_layout()
    size = save_small_png(fig, out)
    plt.close(fig)
    return size


def overlay_files(folder: str, count: int) -> List[str]:
    files = sorted(
        glob.glob(os.path.join(folder, "**", "*.png"), recursive=True)
        + glob.glob(os.path.join(folder, "**", "*.jpg"), recursive=True)
    )
    if not files:
        raise UserError(
            f"{folder}: no overlay PNG/JPG in it (write them with tools/test.py CONFIG CKPT --show-dir DIR)"
        )
    step = max(len(files) // count, 1)  # evenly spread over the split (neighbouring frames look alike)
    return files[::step][:count]


def plot_overlays(
    files: Sequence[str],
    title: str,
    caption: str,
    machine: str,
    out: str,
    columns: int,
    width_px: int,
    colors: int = 64,
) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    images = [Image.open(f).convert("RGB") for f in files]
    rows = math.ceil(len(images) / columns)
    aspect = max(im.height / im.width for im in images)
    width_in = width_px / 90
    title_in = 0.15 + 0.15 * (_wrap(title).count("\n") + 2)  # title lines
    height_in = rows * (width_in / columns) * aspect + title_in
    fig, axes = plt.subplots(rows, columns, figsize=(width_in, height_in), dpi=90, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, im in zip(axes.ravel(), images):
        ax.imshow(im, interpolation="bilinear")
    fig.subplots_adjust(left=0.005, right=0.995, bottom=0.005, top=1 - title_in / height_in, wspace=0.02, hspace=0.02)
    fig.suptitle(f"{_wrap(title)}\n{caption}; {machine}", fontsize=7, y=0.995, va="top")
    size = save_small_png(fig, out, colors=colors)
    plt.close(fig)
    return size


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="the run's work dir (or its scalars.json / metrics.json)")
    p.add_argument(
        "--metric",
        required=True,
        help="validation metric to plot, as logged (mmseg 'mIoU', 'Dice'; detectron2 'sem_seg/mIoU', 'segm/AP50')",
    )
    p.add_argument("--loss", default=None, help="loss key (default: 'loss' for mmengine, 'total_loss' for detectron2)")
    p.add_argument("--title", required=True, help="what the run was: config, data, schedule")
    p.add_argument("--out", required=True, help="curve PNG to write")
    p.add_argument("--machine", default=None, help="machine the run used (default: this machine)")
    p.add_argument(
        "--baseline",
        type=float,
        default=None,
        help="a reference value of the metric to draw as a dashed line (e.g. a constant predictor's)",
    )
    p.add_argument("--baseline-label", default="", help="what the baseline is")
    p.add_argument("--overlays", default=None, help="folder of overlay images written by tools/test.py --show-dir")
    p.add_argument("--overlays-out", default=None, help="overlay PNG to write")
    p.add_argument(
        "--overlays-caption",
        default="overlays of the final model on validation images",
        help="what the overlays show (e.g. 'left: ground truth, right: prediction')",
    )
    p.add_argument("--count", type=int, default=4, help="overlays to tile")
    p.add_argument("--columns", type=int, default=2)
    p.add_argument("--width", type=int, default=640, help="overlay figure width in pixels")
    p.add_argument("--colors", type=int, default=64, help="palette size of the overlay PNG (fewer: smaller file)")
    add_debug(p)
    args = p.parse_args(argv)
    try:
        if bool(args.overlays) != bool(args.overlays_out):
            raise UserError("--overlays and --overlays-out go together")
        machine = args.machine or machine_name()
        logs = find_logs(args.run)
        rows = read_run(logs)
        size = plot_curves(
            rows,
            pick_loss_key(rows, args.loss),
            args.metric,
            args.title,
            machine,
            args.out,
            args.baseline,
            args.baseline_label,
        )
        print(f"{args.out}: {size / 1024:.0f} KB (from {', '.join(logs)})")
        if args.overlays:
            files = overlay_files(args.overlays, args.count)
            last = max(r["iter"] for r in rows)
            size = plot_overlays(
                files,
                f"{args.title}, {last} iterations",
                args.overlays_caption,
                machine,
                args.overlays_out,
                args.columns,
                args.width,
                args.colors,
            )
            print(f"{args.overlays_out}: {size / 1024:.0f} KB ({len(files)} overlays from {args.overlays})")
    except UserError as e:
        if args.debug:
            raise
        print_error_line(str(e))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
