"""Register segclassics parts in MMSegmentation's registries.

Use from a config with::

    custom_imports = dict(imports=['segclassics.mmseg'], allow_failed_imports=False)

Importing this package never imports detectron2.
"""
# One import per registered file; each file registers one class (mmseg's projects/ style).
