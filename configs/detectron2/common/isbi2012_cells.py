"""ISBI 2012 cell instances for detectron2 configs (not a config by itself).

``isbi2012_cells_train`` / ``isbi2012_cells_val`` (24 / 6 slices of 512x512 EM, 1 class ``cell``,
~110 cells per slice; ``../shared/data/isbi2012/instances/{train,val}.json``) are registered by
``import segclassics.detectron2`` (``segclassics.detectron2.instance_datasets``), so saved configs
that only name them run too. ``SEGCLASSICS_ISBI2012`` points to another copy.
"""

from segclassics.detectron2.instance_datasets import ISBI2012_TRAIN as TRAIN
from segclassics.detectron2.instance_datasets import ISBI2012_VAL as VAL

__all__ = ["TRAIN", "VAL"]
