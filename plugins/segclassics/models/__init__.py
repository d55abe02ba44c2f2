"""Framework-free torch modules: the heavy logic of every model lives here.

Nothing in this sub-package imports mmengine, mmcv, mmseg, mmdet or detectron2; the
adapters in ``segclassics.mmseg``, ``segclassics.mmdet`` and ``segclassics.detectron2``
wrap these modules and register them with each framework.
"""
