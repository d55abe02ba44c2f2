#!/usr/bin/env python
"""The README demo: train a small paper-style UNet on the synthetic shapes on CPU, evaluate it on
the validation split, write overlay PNGs, and print the IoU of every class next to what a
constant predictor ("background everywhere") scores, so that the learning is visible per class.

    python tools/demo.py [--config configs/unet/unet_synthetic.py] [--work-dir work_dirs/demo]
                         [--seed N] [--cfg-options KEY=VALUE ...]

Training and evaluation are tools/train.py and tools/test.py (mmseg's runner); the per-class IoU
is computed from the prediction PNGs that tools/test.py writes (mmseg's ``IoUMetric(output_dir=...)``)
and the label PNGs, with segclassics' framework-free confusion matrix.
"""

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import time

import _bootstrap  # noqa: F401  (segclassics importable from a plain checkout)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    print("[demo] $ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def children_cpu_seconds() -> float:
    """User + system CPU time of the finished child processes (and their waited-for children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def val_label_dir(config: str, cfg_options) -> str:
    """The validation label folder the config evaluates on (after --cfg-options, read as train.py reads them)."""
    from segclassics.engine.config_loader import load_config

    ds = load_config(os.path.join(ROOT, config), cfg_options).cfg.test_dataloader.dataset
    return os.path.join(ROOT, ds.data_root, ds.data_prefix.seg_map_path)


def class_ious(pred_dir: str, label_dir: str, classes):
    """(IoU per class of the predictions, IoU per class of predicting class 0 everywhere), in %."""
    import numpy as np
    from PIL import Image

    from segclassics.evaluation.seg_metrics import confusion_matrix, scores_from_confusion

    k = len(classes)
    trained = np.zeros((k, k), dtype=np.int64)
    constant = np.zeros((k, k), dtype=np.int64)
    labels = sorted(glob.glob(os.path.join(label_dir, "*.png")))
    for label_path in labels:
        gt = np.asarray(Image.open(label_path))
        pred_path = os.path.join(pred_dir, os.path.basename(label_path))
        pred = np.asarray(Image.open(pred_path))
        trained += confusion_matrix(pred, gt, k, 255, pred_path)
        constant += confusion_matrix(np.zeros_like(gt), gt, k, 255, label_path)
    return (
        100 * scores_from_confusion(trained)["class_iou"],
        100 * scores_from_confusion(constant)["class_iou"],
        len(labels),
    )


def main(argv=None) -> int:
    from segclassics.utils.cli_args import add_cfg_options

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/unet/unet_synthetic.py")
    parser.add_argument("--work-dir", default="work_dirs/demo")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the config's)")
    add_cfg_options(parser, note="passed to tools/train.py and tools/test.py")
    args = parser.parse_args(argv)
    work_dir = os.path.join(ROOT, args.work_dir)
    options = list(args.cfg_options) + ([f"randomness.seed={args.seed}"] if args.seed is not None else [])
    extra = ["--cfg-options", *options] if options else []
    start, cpu_start = time.time(), children_cpu_seconds()
    # the demo's work dir is its own: a second `make demo` starts it over (--overwrite)
    run([sys.executable, os.path.join(HERE, "train.py"), args.config, "--work-dir", work_dir, "--overwrite", *extra])
    trained, trained_cpu = time.time() - start, children_cpu_seconds() - cpu_start
    with open(os.path.join(work_dir, "last_checkpoint")) as f:
        checkpoint = f.read().strip()
    show_dir = os.path.join(work_dir, "overlays")
    pred_dir = os.path.join(work_dir, "predictions")
    metrics_file = os.path.join(work_dir, "metrics.json")
    test_options = ["--cfg-options", *options, f"test_evaluator.output_dir={pred_dir}"]
    run(
        [
            sys.executable,
            os.path.join(HERE, "test.py"),
            args.config,
            checkpoint,
            "--work-dir",
            work_dir,
            "--show-dir",
            show_dir,
            "--metrics-json",
            metrics_file,
            "--overwrite",
            *test_options,
        ]
    )
    with open(metrics_file) as f:
        metrics = json.load(f)
    pngs = sorted(glob.glob(os.path.join(show_dir, "**", "*.png"), recursive=True))

    from segclassics.datasets.synthetic import CLASSES

    ours, constant, count = class_ious(pred_dir, val_label_dir(args.config, options), CLASSES)
    iters = int(checkpoint.rsplit("iter_", 1)[1].split(".")[0]) if "iter_" in checkpoint else None
    print("\n[demo] ==============================================================")
    print(
        f"[demo] trained {args.config} for {iters} iterations: {trained_cpu / 60:.1f} CPU-minutes "
        f"(user + system of all its processes), {trained / 60:.1f} min wall clock (which includes "
        f"waiting for other jobs on the machine); checkpoint {checkpoint}"
    )
    print(f"[demo] IoU per class on the {count} validation images (%):")
    print(f"[demo]   {'class':<12} {'trained UNet':>12} {'background everywhere':>22}")
    for name, a, b in zip(CLASSES, ours, constant):
        print(f"[demo]   {name:<12} {a:12.2f} {b:22.2f}")
    print(f"[demo]   {'mIoU':<12} {ours.mean():12.2f} {constant.mean():22.2f}")
    print(f"[demo] mmseg's IoUMetric on the same predictions: {metrics}")
    shapes = ours[1:]
    print(
        f"[demo] every shape class is above the constant predictor's 0.00: "
        f"{'yes' if (shapes > 0).all() else 'no'} (lowest: {CLASSES[1 + int(shapes.argmin())]} {shapes.min():.2f})"
    )
    print(
        f"[demo] {len(pngs)} overlay PNGs (ground truth left, prediction right) in "
        f"{os.path.dirname(pngs[0]) if pngs else show_dir}"
    )
    return 0 if pngs and "mIoU" in metrics else 1


if __name__ == "__main__":
    sys.exit(main())
