"""mmdet backbone ``VGG16``: VGG16 (Simonyan & Zisserman, ICLR 2015, Table 1 column D) for detectors.

Thin adapter: the class *is* :class:`segclassics.models.vgg.VGG16` (keys ``conv1_1.weight`` ...,
so torchvision VGG16 weights converted by ``tools/convert_weights/vgg16_torchvision.py`` load
through ``pretrained``), plus mmengine's ``init_cfg``. For Mask R-CNN (He et al. 2017, Sec. 3
"Network Architecture": backbone + FPN) take the pooled output of stages 2-5 -- strides
4, 8, 16, 32 like ResNet's C2-C5 -- and feed mmdet's ``FPN``::

    backbone=dict(type='VGG16', with_fc=False, out_indices=('pool2', 'pool3', 'pool4', 'pool5')),
    neck=dict(type='FPN', in_channels=[128, 256, 512, 512], out_channels=256, num_outs=5)

Registered in mmdet's ``MODELS`` as ``VGG16`` (mmdet's own VGG is ``SSDVGG``: no clash).
"""
from __future__ import annotations

import copy
from typing import Optional, Sequence

from mmdet.registry import MODELS
from mmengine.model import BaseModule

from segclassics.models.vgg import VGG16 as TorchVGG16
from segclassics.models.vgg import load_vgg16_weights


@MODELS.register_module(name='VGG16')
class MMDetVGG16(TorchVGG16, BaseModule):
    """VGG16 / VGG16-BN as an mmdet backbone.

    Args:
        in_channels, batch_norm, with_fc, out_indices, conv1_1_padding, fc6_padding, ceil_mode,
        dropout, widths, fc_channels, bn_momentum: see :class:`segclassics.models.vgg.VGG16`
            (detection uses ``with_fc=False, conv1_1_padding=1``).
        pretrained: torchvision / converted VGG16 checkpoint, loaded in ``init_weights`` with a
            key/shape check.
        init_cfg: mmengine init config (``None``: PyTorch's default init).

    Shapes: ``(N, in_channels, H, W)`` -> tuple of the ``out_indices`` features, e.g. pool2..pool5
    ``(N, w_k, H/2^k, W/2^k)`` with widths (128, 256, 512, 512) for k = 2..5 (input padded to 32).
    """

    def __init__(self, in_channels: int = 3, *, batch_norm: bool = False, with_fc: bool = False,
                 out_indices: Optional[Sequence] = ('pool2', 'pool3', 'pool4', 'pool5'), conv1_1_padding: int = 1,
                 fc6_padding: int = 0, ceil_mode: bool = True, dropout: float = 0.5,
                 widths: Optional[Sequence[int]] = None, fc_channels: int = 4096, bn_momentum: float = 0.1,
                 pretrained: Optional[str] = None, init_cfg=None):
        TorchVGG16.__init__(self, in_channels, batch_norm=batch_norm, with_fc=with_fc,
                            out_indices=tuple(out_indices) if out_indices is not None else None,
                            conv1_1_padding=conv1_1_padding, fc6_padding=fc6_padding, ceil_mode=ceil_mode,
                            dropout=dropout, widths=widths, fc_channels=fc_channels, bn_momentum=bn_momentum)
        self.init_cfg = copy.deepcopy(init_cfg)  # TorchVGG16.__init__ ran BaseModule.__init__(None)
        self.pretrained = pretrained

    def init_weights(self):
        BaseModule.init_weights(self)
        if self.pretrained is not None:
            load_vgg16_weights(self, self.pretrained)
