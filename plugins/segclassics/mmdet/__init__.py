"""Register segclassics parts in MMDetection's registries.

Use from a config with::

    custom_imports = dict(imports=['segclassics.mmdet'], allow_failed_imports=False)
"""
from . import coco_checked_dataset  # noqa: F401
from . import coco_checked_metric  # noqa: F401
from . import vgg16_backbone  # noqa: F401
from . import vit_backbone  # noqa: F401
