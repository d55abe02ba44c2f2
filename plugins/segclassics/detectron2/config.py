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
    """Add every yaml key our parts read: ``MODEL.SEGCLASSICS`` (FCN, ViT; open to any
    sub-key), ``MODEL.UNET`` (open: BASE_CHANNELS, DEPTH, PADDING, NORM, DROPOUT) and
    ``MODEL.SEGNET`` (typed defaults). ``tools/train.py`` calls it for every yaml config."""
    from .segnet_backbone import add_segnet_config
    if "SEGCLASSICS" not in cfg.MODEL:
        cfg.MODEL.SEGCLASSICS = CfgNode(new_allowed=True)
    if "UNET" not in cfg.MODEL:
        cfg.MODEL.UNET = CfgNode(new_allowed=True)
    if "SEGNET" not in cfg.MODEL:
        add_segnet_config(cfg)
    return cfg
