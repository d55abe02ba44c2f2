"""mmseg backbone ``VGG16``: VGG16, optionally convolutionized (FCN, Long et al., CVPR 2015, Sec. 3.1).

Simonyan & Zisserman, ICLR 2015, Table 1 (configuration D). mmseg ships no VGG; this registers
:class:`segclassics.openmmlab.vgg16.OpenMMLabVGG16` (the torch VGG16 plus mmengine's module API)
as ``VGG16`` (no clash with mmseg's ``MODELS``; mmpretrain's is ``VGG``). FCN's reference
geometry is ``conv1_1_padding=100, fc6_padding=0`` (``FCNSkipHead(mode='caffe')``) or
``conv1_1_padding=1, fc6_padding=3`` (``mode='padded'``); defaults keep fc6/fc7 (``with_fc=True``).
"""

from mmseg.registry import MODELS

from ..openmmlab.vgg16 import OpenMMLabVGG16

MMSegVGG16 = MODELS.register_module(name="VGG16", module=OpenMMLabVGG16)
