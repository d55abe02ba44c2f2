"""One command per real-data reproduction: train, publish the weights, evaluate them, draw the curve,
write the table row.

    python tools/reproduce.py {drive,isbi,camvid} [--work-dir DIR] [--data-root DIR] [--threads N]
        [--amp] [--channels-last]

Each recipe is a shipped config (:data:`RECIPES`) run by ``tools/train.py`` in
``work_dirs/reproduce/<name>`` (resumed from its newest complete checkpoint when the folder holds
one, so an interrupted run goes on where it stopped), then:

1. the last weights are published as a weights-only fp16 file ``<config name>-<sha256[:8]>.pth``
   (``tools/publish_model.py --fp16``);
2. ``tools/test.py`` evaluates *that file* (so the row is what the published weights give), writing
   ``metrics.json`` and overlays;
3. ``tools/analysis/plot_run.py`` draws the training curve and tiles four overlays;
4. ``row.md`` gets the model-zoo row: config, data, schedule, result, training wall time, machine.

Progress is printed as one line per logged iteration with mmengine's ETA. The training wall time is
read from the run's own logs (the sum over its sessions when it was resumed), the machine from
``platform`` and ``/proc/cpuinfo``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from segclassics.utils.cli_args import add_amp, add_cfg_options, add_channels_last, add_debug

from ..errors import UserError
from ..utils.reporting import run_reporting_user_errors

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@dataclass(frozen=True)
class Recipe:
    """A reproduction: its config, the data it reads and how its result is reported."""

    config: str
    dataset: str  # folder under --data-root
    what: str  # model and data, for the row
    metric: str  # plotted metric, as logged
    row_metrics: Sequence[str]  # metrics in the row, in order, as in metrics.json
    reference: str  # the number to compare with
    converter: Optional[str] = None  # raw layout -> framework layout (DRIVE)
    overlays_caption: str = "left: ground truth, right: prediction"
    extra_test_options: Sequence[str] = field(default_factory=tuple)


RECIPES: Dict[str, Recipe] = {
    "drive": Recipe(
        config="configs/unet/unet_same-b16_drive_128x128_cpu.py",
        dataset="drive",
        what="UNet same+BN, base 16, depth 5, DRIVE test (20 images)",
        metric="Dice_all",
        row_metrics=("Dice_all", "Dice", "mDice", "Acc"),
        reference="mmseg UNet-S5-D16: vessel Dice 79.32, mDice 88.38 (40k it, GPU)",
        converter="drive",
    ),
    "isbi": Recipe(
        config="configs/unet/unet_valid-b16_isbi2012_572x572_cpu.py",
        dataset="isbi2012",
        what="UNet valid, base 16, depth 5, ISBI 2012 val slices 24-29, overlap-tile + flip test",
        metric="pixel_error",
        # pixel_error_fscore is the challenge's (and the paper's) pixel error, 1 - F-score of the cells;
        # pixel_error is 1 - accuracy
        row_metrics=("pixel_error_fscore", "pixel_error", "rand_error", "warping_error", "Dice"),
        reference="paper (base 64, test set, 7 rotations averaged): pixel error (1 - max F-score) 0.0611, "
        "Rand error 0.0382",
        # the paper's entry averaged the output over rotated inputs (Sec. 4): the config's tta_pipeline
        extra_test_options=("--tta",),
    ),
    "camvid": Recipe(
        config="configs/segnet/segnet_basic_camvid_180x240_cpu.py",
        dataset="camvid",
        what="SegNet-Basic from scratch at 180x240, CamVid val (101 images) scored at 360x480",
        metric="mIoU",
        row_metrics=("G", "C", "mIoU", "BF"),
        reference="paper SegNet-Basic (test set): G 82.8, C 62.3, mIoU 46.3",
    ),
}
LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
_ITER = re.compile(r"Iter\(train\) \[\s*(\d+)/(\d+)\].*?eta: (\S+).*?\bloss: ([0-9.naninf]+)")
_STAMP = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) - mmengine")  # mmengine's log file


def machine_name() -> str:
    """``"2-core AMD EPYC (AVX2) CPU"``: core count, CPU model and the widest vector unit torch uses."""
    model = "CPU"
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    import torch

    return f"{os.cpu_count()}-core {model} ({torch.backends.cpu.get_cpu_capability()}) CPU, no GPU"


def _python() -> str:
    return sys.executable


def _run(cmd: List[str], log_path: str, progress=None) -> None:
    """Run ``cmd`` from the repository root, its output into ``log_path``; ``progress(line)`` sees
    every line. A failure ends with the last lines of the log."""
    with open(log_path, "a") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tail: List[str] = []
        for line in proc.stdout:
            log.write(line)
            tail = (tail + [line.rstrip()])[-8:]
            if progress is not None:
                progress(line)
        if proc.wait():
            raise UserError(
                f"{' '.join(cmd[1:3])} failed (exit {proc.returncode}); its output is in {log_path}; "
                f"last lines:\n  " + "\n  ".join(tail)
            )


def data_options(root: str) -> List[str]:
    return [f"{loader}.dataset.data_root={root}" for loader in LOADERS]


def prepare_data(recipe: Recipe, data_root: str, work: str) -> str:
    """The dataset folder the config reads: ``data_root/<dataset>`` as it is, or its converted copy
    under ``work/../data`` (DRIVE's raw tif/gif layout)."""
    src = os.path.join(data_root, recipe.dataset)
    if not os.path.isdir(src):
        raise UserError(
            f"{src}: not found; --data-root must hold {recipe.dataset}/ (the layout of ../shared/data, see its README)"
        )
    if recipe.converter is None:
        return os.path.abspath(src)
    dst = os.path.join(os.path.dirname(os.path.abspath(work)), "data", recipe.dataset)
    if not os.path.isfile(os.path.join(dst, ".complete")):
        from segclassics.datasets import drive

        print(f"[reproduce] converting {src} -> {dst}", flush=True)
        drive.convert(src, dst, list(drive.SPLITS))
        with open(os.path.join(dst, ".complete"), "w") as f:
            f.write("converted from " + os.path.abspath(src) + "\n")
    return dst


def training_sessions(work: str) -> List[float]:
    """Wall seconds of each training session of the run, from mmengine's ``<work>/<stamp>/<stamp>.log``
    (first to last time stamp of each)."""
    out = []
    for log in sorted(glob.glob(os.path.join(work, "*", "*.log"))):
        stamps = []
        with open(log, errors="replace") as f:
            for line in f:
                m = _STAMP.match(line)
                if m:
                    stamps.append(m.group(1))
        if "Iter(train)" not in open(log, errors="replace").read():
            continue  # a test run's log
        if len(stamps) >= 2:
            first, last = (dt.datetime.strptime(s, "%Y/%m/%d %H:%M:%S") for s in (stamps[0], stamps[-1]))
            out.append((last - first).total_seconds())
    return out


class Progress:
    """One line per logged training iteration: ``[reproduce drive] 1200/3600 (33 %) loss 0.41 ETA 0:40:12``."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, line: str) -> None:
        m = _ITER.search(line)
        if m:
            it, total, eta, loss = m.groups()
            print(
                f"[reproduce {self.name}] {it}/{total} ({100 * int(it) // int(total)} %) loss {loss} ETA {eta}",
                flush=True,
            )
        elif "Iter(val)" in line and ":" in line and "eta" not in line:
            print(f"[reproduce {self.name}] validation: {line.split('Iter(val)')[-1].strip()}", flush=True)
        elif line.startswith(("error:", "Traceback")):
            print(line.rstrip(), flush=True)


def _fmt_minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def table_row(
    recipe: Recipe, metrics: dict, schedule: str, sessions: Sequence[float], machine: str, weights: str
) -> str:
    shown = ", ".join(f"{k} {metrics[k]:.4g}" for k in recipe.row_metrics if isinstance(metrics.get(k), (int, float)))
    wall = _fmt_minutes(sum(sessions)) + (f" in {len(sessions)} sessions" if len(sessions) > 1 else "")
    return (
        f"| {recipe.what} | `{recipe.config}` | {schedule}, {wall} on a {machine} | {shown} | "
        f"{recipe.reference} | `{os.path.relpath(weights, REPO)}` |"
    )


def train_command(
    config: str, work: str, resume: bool, amp: bool, cfg_options: Sequence[str], channels_last: bool = False
) -> List[str]:
    """The ``tools/train.py`` call of a reproduction; ``amp``: its ``--amp`` (bf16 autocast with fp32
    master weights on a CPU with native bf16, fp16 with loss scaling on a GPU); ``channels_last``: its
    ``--channels-last``."""
    return [
        _python(),
        "tools/train.py",
        config,
        "--work-dir",
        work,
        *(["--resume"] if resume else []),
        *(["--amp"] if amp else []),
        *(["--channels-last"] if channels_last else []),
        "--cfg-options",
        *cfg_options,
    ]


def check_amp() -> None:
    """``--amp`` without a GPU needs a CPU with native bf16: refused before any data is prepared."""
    import torch

    if not torch.cuda.is_available():
        from .cpu_precision import require_cpu_bf16

        require_cpu_bf16("--amp")


def reproduce(
    name: str,
    work: Optional[str],
    data_root: str,
    threads: Optional[int],
    weights_dir: Optional[str],
    cfg_options: Sequence[str] = (),
    amp: bool = False,
    channels_last: bool = False,
) -> dict:
    recipe = RECIPES[name]
    if amp:
        check_amp()
    work = os.path.abspath(work or os.path.join(REPO, "work_dirs", "reproduce", name))
    os.makedirs(work, exist_ok=True)
    root = prepare_data(recipe, data_root, work)
    env_threads = {} if threads is None else {"OMP_NUM_THREADS": str(threads)}
    os.environ.update(env_threads)
    config = os.path.join(REPO, recipe.config)
    progress = Progress(name)
    last = os.path.join(work, "last_weights.pth")
    if os.path.isfile(last):
        print(f"[reproduce {name}] {last} exists: training finished earlier", flush=True)
    else:
        resume = os.path.isfile(os.path.join(work, "last_checkpoint"))
        print(f"[reproduce {name}] training {recipe.config} in {work}" + (" (resuming)" if resume else ""), flush=True)
        _run(
            train_command(config, work, resume, amp, [*data_options(root), *cfg_options], channels_last),
            os.path.join(work, "reproduce_train.log"),
            progress,
        )
    from segclassics.engine.publish_cli import publish

    stem = os.path.splitext(os.path.basename(recipe.config))[0]
    out_dir = os.path.abspath(weights_dir or work)
    for old in glob.glob(os.path.join(out_dir, f"{stem}-*.pth")):
        if os.path.dirname(old) == work:
            os.unlink(old)  # an earlier publication of this run (written by this command)
    weights, sha = publish(last, os.path.join(out_dir, stem + ".pth"), half=True)
    print(f"[reproduce {name}] published {weights} (fp16, sha256 {sha[:16]}...)", flush=True)
    test_dir = os.path.join(work, "test")
    metrics_json = os.path.join(work, "metrics.json")
    overlays = os.path.join(work, "overlays")
    # the reproduction's work dir is its own: a re-run (after an interruption) rewrites its metrics
    _run(
        [
            _python(),
            "tools/test.py",
            config,
            weights,
            "--work-dir",
            test_dir,
            "--metrics-json",
            metrics_json,
            "--overwrite",
            "--show-dir",
            overlays,
            "--cfg-options",
            *data_options(root),
            *cfg_options,
            *recipe.extra_test_options,
        ],
        os.path.join(work, "reproduce_test.log"),
    )
    with open(metrics_json) as f:
        metrics = json.load(f)
    machine = machine_name()
    sessions = training_sessions(work)
    from .config_loader import load_config

    cfg = load_config(config, list(cfg_options)).cfg
    schedule = (
        f"{cfg.train_cfg.max_iters} it x batch {cfg.train_dataloader.batch_size}"
        + (", --amp" if amp else "")
        + (" --channels-last" if channels_last else "")
    )
    title = f"{recipe.config}, {recipe.what}, {schedule}"
    _run(
        [
            _python(),
            "tools/analysis/plot_run.py",
            work,
            "--metric",
            recipe.metric,
            "--title",
            title,
            "--machine",
            machine,
            "--out",
            os.path.join(work, "curve.png"),
            "--overlays",
            overlays,
            "--overlays-out",
            os.path.join(work, "overlays.png"),
            "--overlays-caption",
            recipe.overlays_caption,
        ],
        os.path.join(work, "reproduce_plot.log"),
    )
    row = table_row(recipe, metrics, schedule, sessions, machine, weights)
    with open(os.path.join(work, "row.md"), "w") as f:
        f.write(row + "\n")
    result = dict(
        name=name,
        config=recipe.config,
        weights=weights,
        sha256=sha,
        metrics=metrics,
        train_sessions_s=sessions,
        machine=machine,
        amp=amp,
        channels_last=channels_last,
        row=row,
        curve=os.path.join(work, "curve.png"),
        overlays=os.path.join(work, "overlays.png"),
        finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    with open(os.path.join(work, "reproduce.json"), "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(
        f"[reproduce {name}] "
        + ", ".join(f"{k} {metrics[k]:.4g}" for k in recipe.row_metrics if isinstance(metrics.get(k), (int, float))),
        flush=True,
    )
    print(f"[reproduce {name}] training wall time {_fmt_minutes(sum(sessions))}; row: {os.path.join(work, 'row.md')}")
    print(row)
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", choices=sorted(RECIPES), help="the reproduction")
    p.add_argument("--work-dir", help="default work_dirs/reproduce/<name> (an existing run there is resumed)")
    p.add_argument(
        "--data-root",
        default=os.path.join(os.path.dirname(REPO), "shared", "data"),
        help="folder holding drive/, isbi2012/, camvid/ (default: ../shared/data beside the checkout)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (OMP_NUM_THREADS) of the training")
    p.add_argument("--weights-dir", default=None, help="where the published weights go (default: the work dir)")
    add_amp(p)
    add_channels_last(p)
    add_cfg_options(p, note="applied to training and evaluation (train_cfg.max_iters=100 for a quick try)")
    add_debug(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    return run_reporting_user_errors(
        lambda: (
            reproduce(
                args.name,
                args.work_dir,
                args.data_root,
                args.threads,
                args.weights_dir,
                args.cfg_options,
                args.amp,
                args.channels_last,
            )
            and 0
        ),
        args.debug,
    )
