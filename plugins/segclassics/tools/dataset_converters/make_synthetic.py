"""Generate segclassics' synthetic shapes dataset (the embedded default) into ROOT.

Writes ``ROOT/img_dir/{train,val}/NNNN.png``, ``ROOT/ann_dir/{train,val}/NNNN.png``
(0 background, 1..5 disk/square/triangle/ring/cross, 255 ignore), COCO instances
``ROOT/annotations/instances_{train,val}.json`` and ``ROOT/meta.json``. Idempotent: nothing
is written when ROOT already holds the dataset with these parameters; other parameters
regenerate it (atomically). Configs read ``data/synthetic`` by default.

Example::

    python -m segclassics.tools.dataset_converters.make_synthetic data/synthetic
    python -m segclassics.tools.dataset_converters.make_synthetic data/synthetic_256 --size 256 256 --num-train 400
"""

import argparse
import os
import sys

from segclassics.datasets import synthetic


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="output folder (created; e.g. data/synthetic)")
    p.add_argument("--num-train", type=int, default=160)
    p.add_argument("--num-val", type=int, default=40)
    p.add_argument("--size", type=int, nargs=2, default=(128, 128), metavar=("H", "W"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    made = synthetic.ensure_synthetic(
        args.root,
        num_train=args.num_train,
        num_val=args.num_val,
        size=tuple(args.size),
        seed=args.seed,
        verbose=True,
    )
    meta = synthetic.read_meta(args.root)
    state = "generated" if made else "already up to date"
    print(
        f"{os.path.abspath(args.root)}: {state} ({meta['num_train']} train / {meta['num_val']} val, "
        f"size {meta['size'][0]}x{meta['size'][1]}, seed {meta['seed']}, classes {', '.join(synthetic.CLASSES)})"
    )
    return 0


if __name__ == "__main__":  # an input error is one `error:` line (exit 2), Ctrl-C one line (exit 130)
    from segclassics.utils.reporting import run_reporting_user_errors

    sys.exit(run_reporting_user_errors(main))
