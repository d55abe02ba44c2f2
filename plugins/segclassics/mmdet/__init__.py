"""Register segclassics parts in MMDetection's registries.

Use from a config with::

    custom_imports = dict(imports=['segclassics.mmdet'], allow_failed_imports=False)
"""
