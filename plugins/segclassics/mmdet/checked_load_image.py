"""mmdet transform ``CheckedLoadImageFromFile``: registers
:class:`segclassics.openmmlab.checked_image_loading.CheckedLoadImageFromFile` in mmdet's
``TRANSFORMS`` (mmcv's ``LoadImageFromFile``, naming an unreadable or truncated image file)."""

from mmdet.registry import TRANSFORMS

from ..openmmlab.checked_image_loading import CheckedLoadImageFromFile

MMDetCheckedLoadImageFromFile = TRANSFORMS.register_module(module=CheckedLoadImageFromFile)
