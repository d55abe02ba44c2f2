"""Register segclassics parts in MMDetection's registries.

Use from a config with::

    custom_imports = dict(imports=['segclassics.mmdet'], allow_failed_imports=False)

Importing it also lets configs loaded afterwards inherit ours by package reference,
``_base_ = ['segclassics::mask_rcnn/mask-rcnn_vgg16_fpn_isbi2012.py']`` (see ``segclassics.openmmlab.config_prefix``).
"""

# Import order kept (ruff's isort is off here): each import registers or patches at import time.
# isort: off
from . import coco_checked_dataset  # noqa: F401
from . import coco_checked_metric  # noqa: F401
from . import vgg16_backbone  # noqa: F401
from . import vit_backbone  # noqa: F401
from . import checked_load_image  # noqa: F401

from ..openmmlab.config_prefix import enable_config_prefix
# isort: on

enable_config_prefix()
