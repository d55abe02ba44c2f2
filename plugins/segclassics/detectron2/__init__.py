"""Register segclassics parts in detectron2's registries.

Importing this package needs neither mmcv nor any OpenMMLab package. detectron2's
yaml configs name our parts (``MODEL.BACKBONE.NAME``, ``MODEL.SEM_SEG_HEAD.NAME``); lazy
configs may also reference the classes directly.
"""
