"""Write a few generated images in the ADE20K layout (for smoke-testing the ADE20K configs).

    python -m segclassics.tools.dataset_converters.make_ade20k_fixture OUT_ROOT [--train 4] [--val 2]
    python tools/train.py configs/setr_ade20k.py --cfg-options \
        train_dataloader.dataset.data_root=OUT_ROOT val_dataloader.dataset.data_root=OUT_ROOT ...

The images are NOT ADE20K: only its folder layout, file naming and label encoding
(0 = other/ignored, 1..150 classes). Get the real data from
http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip.
"""

import argparse
import sys

from segclassics.datasets.ade20k_fixture import make_ade20k_fixture


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root")
    p.add_argument("--train", type=int, default=4)
    p.add_argument("--val", type=int, default=2)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    make_ade20k_fixture(a.root, a.train, a.val, (a.height, a.width), a.seed)
    print(f"wrote an ADE20K-layout fixture ({a.train} train, {a.val} val) under {a.root}")


if __name__ == "__main__":  # an input error is one `error:` line (exit 2), Ctrl-C one line (exit 130)
    from segclassics.utils.reporting import run_reporting_user_errors

    sys.exit(run_reporting_user_errors(main))
