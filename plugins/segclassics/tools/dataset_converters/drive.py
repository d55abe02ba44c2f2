"""Convert the raw DRIVE download (tif images, gif labels and FOV masks) to PNGs in
``OUT/{img_dir,ann_dir,fov_dir}/{training,test}/NN.png`` (labels 0/1, FOV masks 0/1), the
layout ``configs/unet/unet_drive.py`` reads (``data/drive`` by default).

Example::

    python -m segclassics.tools.dataset_converters.drive ../shared/data/drive data/drive
"""

import argparse
import os
import sys

from segclassics.datasets import drive


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="raw DRIVE folder holding training/ and test/")
    p.add_argument("out", nargs="?", default="data/drive", help="output folder (default: data/drive)")
    p.add_argument("--splits", nargs="+", default=["training", "test"], choices=sorted(drive.SPLITS))
    args = p.parse_args(argv)
    if not os.path.isdir(args.src):
        p.error(f"source folder not found: {args.src!r}")
    try:
        counts = drive.convert(args.src, args.out, args.splits)
    except (FileNotFoundError, ValueError) as e:
        p.error(str(e))
    for split, n in counts.items():
        print(f"{split}: {n} images -> {os.path.join(args.out, '*_dir', split)}")


if __name__ == "__main__":  # an input error is one `error:` line (exit 2), Ctrl-C one line (exit 130)
    from segclassics.utils.reporting import run_reporting_user_errors

    sys.exit(run_reporting_user_errors(main))
