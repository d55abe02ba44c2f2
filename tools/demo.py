#!/usr/bin/env python
"""The README demo: train a small paper-style UNet on the synthetic shapes on CPU, evaluate
mIoU on the validation split, write overlay PNGs, and print where they are.

    python tools/demo.py [--config configs/unet/unet_synthetic.py] [--work-dir work_dirs/demo]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

import _bootstrap  # noqa: F401  (segclassics importable from a plain checkout)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    print("[demo] $ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def constant_predictor_miou(data_root: str) -> float:
    """mIoU (%) of predicting background everywhere on the val labels: the bar to beat."""
    import numpy as np
    from PIL import Image
    labels = [np.asarray(Image.open(p)) for p in sorted(glob.glob(os.path.join(data_root, "ann_dir", "val", "*.png")))]
    counted = sum(int((lab != 255).sum()) for lab in labels)
    background = sum(int((lab == 0).sum()) for lab in labels)
    from segclassics.datasets.synthetic import CLASSES
    return 100.0 * background / counted / len(CLASSES)  # IoU_bg = bg fraction; the others are 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/unet/unet_synthetic.py")
    parser.add_argument("--work-dir", default="work_dirs/demo")
    parser.add_argument("--cfg-options", nargs="+", default=[])
    args = parser.parse_args()
    work_dir = os.path.join(ROOT, args.work_dir)
    extra = ["--cfg-options", *args.cfg_options] if args.cfg_options else []
    start = time.time()
    run([sys.executable, os.path.join(HERE, "train.py"), args.config, "--work-dir", work_dir, *extra])
    trained = time.time() - start
    with open(os.path.join(work_dir, "last_checkpoint")) as f:
        checkpoint = f.read().strip()
    show_dir = os.path.join(work_dir, "overlays")
    metrics_file = os.path.join(work_dir, "metrics.json")
    run([sys.executable, os.path.join(HERE, "test.py"), args.config, checkpoint, "--work-dir", work_dir,
         "--show-dir", show_dir, "--metrics-json", metrics_file, *extra])
    with open(metrics_file) as f:
        metrics = json.load(f)
    pngs = sorted(glob.glob(os.path.join(show_dir, "**", "*.png"), recursive=True))
    print("\n[demo] ==============================================================")
    print(f"[demo] trained {args.config} in {trained / 60:.1f} min on CPU; checkpoint {checkpoint}")
    print(f"[demo] validation mIoU = {metrics.get('mIoU', float('nan')):.2f}  (all metrics: {metrics})")
    print(f"[demo] for scale: predicting background everywhere scores mIoU = "
          f"{constant_predictor_miou(os.path.join(ROOT, 'data', 'synthetic')):.2f}")
    print(f"[demo] {len(pngs)} overlay PNGs in {os.path.dirname(pngs[0]) if pngs else show_dir}")
    return 0 if pngs and "mIoU" in metrics else 1


if __name__ == "__main__":
    sys.exit(main())
