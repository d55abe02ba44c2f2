"""segclassics: classic segmentation models for OpenMMLab and detectron2."""

__version__ = "0.1.0"
