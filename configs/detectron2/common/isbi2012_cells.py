"""ISBI 2012 cell instances for detectron2 configs (not a config by itself).

Registers ``isbi2012_cells_train`` / ``isbi2012_cells_val`` (24 / 6 slices of 512x512 EM, 1 class
``cell``, ~110 cells per slice; ``../shared/data/isbi2012/instances/{train,val}.json``) through the
checked COCO loader, once, at import. ``SEGCLASSICS_ISBI2012`` points to another copy.
"""
import os

from segclassics.detectron2.coco_instances import register_checked_coco_instances

TRAIN, VAL = 'isbi2012_cells_train', 'isbi2012_cells_val'

_root = os.environ.get('SEGCLASSICS_ISBI2012', '../shared/data/isbi2012')
_how = 'ISBI 2012 instances are in ../shared/data/isbi2012/instances (set SEGCLASSICS_ISBI2012 to another copy)'
for _name, _split in ((TRAIN, 'train'), (VAL, 'val')):
    register_checked_coco_instances(_name, os.path.join(_root, 'instances', f'{_split}.json'), _root,
                                    thing_classes=['cell'], how_to_get=_how)
