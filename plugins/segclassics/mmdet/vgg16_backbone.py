"""mmdet backbone ``VGG16``: VGG16 (Simonyan & Zisserman, ICLR 2015, Table 1 column D) for detectors.

:class:`segclassics.openmmlab.vgg16.OpenMMLabVGG16` with detection defaults: no fc6/fc7 and the
pooled outputs of stages 2-5 -- strides 4, 8, 16, 32 like ResNet's C2-C5 -- for mmdet's ``FPN``
in Mask R-CNN (He et al. 2017, Sec. 3 "Network Architecture")::

    backbone=dict(type='VGG16', with_fc=False, out_indices=('pool2', 'pool3', 'pool4', 'pool5')),
    neck=dict(type='FPN', in_channels=[128, 256, 512, 512], out_channels=256, num_outs=5)

Registered in mmdet's ``MODELS`` as ``VGG16`` (mmdet's own VGG is ``SSDVGG``: no clash).
"""

from __future__ import annotations

from typing import Optional, Sequence

from mmdet.registry import MODELS

from segclassics.openmmlab.vgg16 import OpenMMLabVGG16


@MODELS.register_module(name="VGG16")
class MMDetVGG16(OpenMMLabVGG16):
    """``OpenMMLabVGG16`` with ``with_fc=False, out_indices=('pool2', ..., 'pool5')`` by default.

    Shapes: ``(N, in_channels, H, W)`` -> pool2..pool5 ``(N, w_k, H/2^k, W/2^k)`` with widths
    (128, 256, 512, 512) for k = 2..5 (input padded to 32).
    """

    def __init__(
        self,
        in_channels: int = 3,
        *,
        with_fc: bool = False,
        out_indices: Optional[Sequence] = ("pool2", "pool3", "pool4", "pool5"),
        **kwargs,
    ):
        super().__init__(in_channels, with_fc=with_fc, out_indices=out_indices, **kwargs)
