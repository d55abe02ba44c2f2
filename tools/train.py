#!/usr/bin/env python
"""Train any segclassics config: mmengine (mmseg/mmdet) or detectron2 (LazyConfig/yaml).

python tools/train.py configs/setr_ade20k.py [--work-dir DIR] [--amp] [--resume [CKPT]]
    [--cfg-options KEY=VALUE ...] [--launcher pytorch]   # under torchrun: tools/dist_train.sh
"""

import sys

import _bootstrap  # noqa: F401
from segclassics.engine.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
