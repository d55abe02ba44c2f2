"""mmseg transform ``CheckedLoadImageFromFile``: registers
:class:`segclassics.openmmlab.checked_image_loading.CheckedLoadImageFromFile` in mmseg's
``TRANSFORMS`` (mmcv's ``LoadImageFromFile``, naming an unreadable or truncated image file)."""

from mmseg.registry import TRANSFORMS

from ..openmmlab.checked_image_loading import CheckedLoadImageFromFile

MMSegCheckedLoadImageFromFile = TRANSFORMS.register_module(module=CheckedLoadImageFromFile)
