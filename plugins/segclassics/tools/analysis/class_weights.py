"""Median-frequency-balancing class weights from training labels (SegNet Sec. 3.2, Eigen & Fergus 2015).

``freq(c)`` = pixels of class c / total pixels of the images where c is present; ``w(c) = median / freq(c)``.
Prints the weights as a Python list to paste into a config
(``model.decode_head.loss_decode.class_weight``), for both readings of "total pixels"
(labelled pixels only -- the default, used in our configs -- and all pixels including void).

Example::

    python -m segclassics.tools.analysis.class_weights ../shared/data/camvid/labels/train \\
        --num-classes 11 --ignore-index 11
"""

import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

from segclassics.datasets.class_weights import ClassFrequencyCounter
from segclassics.errors import MissingFileError


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("label_dir", help="folder of index-label PNGs (the training split)")
    p.add_argument("--num-classes", type=int, required=True)
    p.add_argument("--ignore-index", type=int, default=255, help="void label (CamVid files: 11)")
    p.add_argument("--suffix", default=".png")
    p.add_argument("--decimals", type=int, default=4)
    p.add_argument("--json", default=None, help="also write frequencies and weights to this file")
    args = p.parse_args(argv)
    if not os.path.isdir(args.label_dir):
        raise MissingFileError(f"label folder not found: {args.label_dir!r}")
    files = sorted(f for f in os.listdir(args.label_dir) if f.endswith(args.suffix))
    if not files:
        raise MissingFileError(f"no *{args.suffix} file in {args.label_dir!r}")
    counters = {cv: ClassFrequencyCounter(args.num_classes, args.ignore_index, count_void=cv) for cv in (False, True)}
    for f in files:
        path = os.path.join(args.label_dir, f)
        with Image.open(path) as im:
            lab = np.asarray(im)
        for c in counters.values():
            c.update(lab, name=path)
    result = {}
    for cv, c in counters.items():
        key = "all_pixels" if cv else "labelled_pixels"
        result[key] = {"freq": c.frequencies().tolist(), "weights": c.weights().round(args.decimals).tolist()}
    print(f"{len(files)} label maps in {args.label_dir}")
    print("class_weight (total = labelled pixels of the image; used in configs/segnet):")
    print(json.dumps(result["labelled_pixels"]["weights"]))
    print("class_weight (total = all pixels of the image, void included):")
    print(json.dumps(result["all_pixels"]["weights"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(num_images=len(files), **result), f, indent=1)
    return 0


if __name__ == "__main__":  # an input error is one `error:` line (exit 2), Ctrl-C one line (exit 130)
    from segclassics.utils.reporting import run_reporting_user_errors

    sys.exit(run_reporting_user_errors(main))
