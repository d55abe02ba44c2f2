"""mmengine-level glue shared by the mmseg and mmdet adapters (OpenMMLab 2.x).

The classes here add mmengine's module API (``init_cfg``, ``init_weights``) and checked
``pretrained`` loading to the plain torch modules of :mod:`segclassics.models`. They import
mmengine only; ``segclassics.mmseg`` and ``segclassics.mmdet`` register them in their
framework's ``MODELS`` (one registration per file there), so the logic exists once.
"""
