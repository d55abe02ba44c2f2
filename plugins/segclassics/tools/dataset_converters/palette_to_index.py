"""Rewrite palette ('P') label PNGs (e.g. PASCAL VOC's SegmentationClass) as grey ('L') index PNGs.

detectron2's ``DatasetMapper`` reads semantic labels with ``PIL.Image.convert('L')``, which turns
palette indices into grey levels (VOC 'person' = 15 becomes 147); segclassics' detectron2
registration therefore refuses palette labels and points here. The pixel values (class indices,
255 = ignore) are kept; only the storage changes. mmseg reads either form correctly.

Example::

    python -m segclassics.tools.dataset_converters.palette_to_index \\
        data/VOCdevkit/VOC2012/SegmentationClass data/VOCdevkit/VOC2012/SegmentationClassIndex
"""

import argparse
import sys

from segclassics.datasets.label_png import convert_folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src_dir", help="folder of palette (or grey) index PNGs")
    p.add_argument("dst_dir", help="output folder (created), same file names")
    p.add_argument("--ext", default=".png")
    args = p.parse_args(argv)
    written = convert_folder(args.src_dir, args.dst_dir, args.ext)
    print(f"wrote {len(written)} index PNGs to {args.dst_dir}")
    return 0


if __name__ == "__main__":  # an input error is one `error:` line (exit 2), Ctrl-C one line (exit 130)
    from segclassics.utils.reporting import run_reporting_user_errors

    sys.exit(run_reporting_user_errors(main))
