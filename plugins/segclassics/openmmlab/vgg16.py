"""VGG16 (Simonyan & Zisserman, ICLR 2015, Table 1 column D) with mmengine's module API.

It *is* :class:`segclassics.models.vgg.VGG16` (keys ``conv1_1.weight`` ..., ``fc6.weight``), plus
mmengine's ``init_cfg`` and a ``pretrained`` checkpoint loaded in ``init_weights`` with a key/shape
check. Registered as ``VGG16`` by ``segclassics.mmseg.vgg16_backbone`` (FCN defaults) and
``segclassics.mmdet.vgg16_backbone`` (detection defaults).
"""

from __future__ import annotations

import copy
from typing import Optional, Sequence

from mmengine.model import BaseModule

from ..models.vgg import VGG16 as TorchVGG16
from ..models.vgg import load_vgg16_weights


class OpenMMLabVGG16(TorchVGG16, BaseModule):
    """VGG16 / VGG16-BN as an mmengine module.

    Args:
        in_channels, norm, with_fc, out_indices, conv1_1_padding, fc6_padding, ceil_mode,
        dropout, widths, fc_channels, bn_momentum: see :class:`segclassics.models.vgg.VGG16`.
        pretrained: checkpoint path (torchvision ``vgg16``/``vgg16_bn`` state dict, or one converted
            by ``python -m segclassics.tools.convert_weights.vgg16_torchvision``), loaded in ``init_weights`` with a
            key/shape check (a mismatch names the keys).
        init_cfg: mmengine init config (``None``: PyTorch's default init).

    Shapes: ``(N, in_channels, H, W)`` -> tuple of the ``out_indices`` features, e.g.
    ``pool3 (N, 256, H/8, W/8)``, ``pool4 (N, 512, H/16, W/16)``, ``fc7 (N, 4096, ~H/32, ~W/32)``
    (exact sizes: ``feature_size``).
    """

    def __init__(
        self,
        in_channels: int = 3,
        *,
        norm: Optional[str] = None,
        with_fc: bool = True,
        out_indices: Optional[Sequence] = None,
        conv1_1_padding: int = 1,
        fc6_padding: int = 0,
        ceil_mode: bool = True,
        dropout: float = 0.5,
        widths: Optional[Sequence[int]] = None,
        fc_channels: int = 4096,
        bn_momentum: float = 0.1,
        pretrained: Optional[str] = None,
        init_cfg=None,
    ):
        TorchVGG16.__init__(
            self,
            in_channels,
            norm=norm,
            with_fc=with_fc,
            out_indices=tuple(out_indices) if out_indices is not None else None,
            conv1_1_padding=conv1_1_padding,
            fc6_padding=fc6_padding,
            ceil_mode=ceil_mode,
            dropout=dropout,
            widths=widths,
            fc_channels=fc_channels,
            bn_momentum=bn_momentum,
        )
        self.init_cfg = copy.deepcopy(init_cfg)  # TorchVGG16.__init__ ran BaseModule.__init__(None)
        self.pretrained = pretrained

    def init_weights(self):
        BaseModule.init_weights(self)
        if self.pretrained is not None:
            load_vgg16_weights(self, self.pretrained)
