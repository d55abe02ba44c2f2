"""detectron2 yaml-config keys for segclassics parts.

detectron2's ``CfgNode`` rejects unknown keys, so every yaml option our heads and
backbones read lives under ``MODEL.SEGCLASSICS`` (open to new keys), e.g.::

    MODEL:
      BACKBONE: {NAME: "build_segclassics_vgg16_backbone"}
      SEGCLASSICS: {FCN_VARIANT: "8s"}

Lazy configs do not need this: they call our classes with keyword arguments.
"""
from __future__ import annotations

from detectron2.config import CfgNode


def add_segclassics_config(cfg: CfgNode) -> CfgNode:
    """Add ``MODEL.SEGCLASSICS`` (accepting any sub-key) to a detectron2 config."""
    if "SEGCLASSICS" not in cfg.MODEL:
        cfg.MODEL.SEGCLASSICS = CfgNode(new_allowed=True)
    return cfg
