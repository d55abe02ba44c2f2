"""mmseg backbone: SegNet's encoder, whose outputs carry the max-pool indices and sizes.

Badrinarayanan et al., "SegNet", TPAMI 2017, Sec. 3 (VGG16-BN encoder; each 2x2 max-pool
remembers its argmax locations) and Sec. 3.1 (SegNet-Basic).

Output representation (mmseg hands the backbone's tuple to the decode head unchanged)::

    (features, record_1, ..., record_S)

* ``features``: ``(N, C, h, w)`` tensor, the last pool's output (index 0, so auxiliary heads
  such as ``FCNHead(in_index=0)`` can use it like any backbone feature);
* ``record_k``: :class:`segclassics.models.segnet.PoolRecord` ``(indices, size)`` of stage k
  (``indices`` ``(N, C_k, H_k/2, W_k/2)`` int64, ``size`` = ``(H_k, W_k)`` ints, the pre-pool size
  needed to unpool odd sizes exactly). Stage 1 is the shallowest.

``SegNetHead`` consumes the whole tuple. Neither the indices nor the sizes are parameters or
gradients, so DDP, AMP (unpooling copies values in the feature dtype) and ``batch > 1``
need nothing special; see ``tests/test_segnet_mmseg.py``.
"""

from __future__ import annotations

from typing import Optional, Sequence

from mmengine.model import BaseModule
from mmseg.registry import MODELS

from segclassics.models.segnet import build_segnet_encoder, load_vgg16_bn_into_encoder


@MODELS.register_module()
class SegNetBackbone(BaseModule):
    """SegNet / SegNet-Basic encoder for mmseg's ``EncoderDecoder``.

    Args:
        arch: ``'vgg16'`` (SegNet: VGG16's 13 conv + BN + ReLU) or ``'basic'`` (SegNet-Basic).
        in_channels: image channels.
        widths: VGG16 stage widths (``None``: the paper's 64, 128, 256, 512, 512).
        channels, num_stages, kernel_size: SegNet-Basic's width, depth, kernel (64, 4, 7).
        ceil_mode: Caffe pooling (``ceil(H/2)``) as SegNet's release.
        pretrained: path of a *torchvision* ``vgg16_bn`` state dict (``arch='vgg16'`` only); loaded
            in ``init_weights`` through ``convert_torchvision_vgg16`` with a key/shape check.
        init_cfg: mmengine init config; ``None`` keeps the He initialisation of the paper.

    Shapes: ``(N, in_channels, H, W)`` -> the tuple described in the module docstring.
    """

    def __init__(
        self,
        arch: str = "vgg16",
        in_channels: int = 3,
        widths: Optional[Sequence[int]] = None,
        channels: int = 64,
        num_stages: int = 4,
        kernel_size: int = 7,
        ceil_mode: bool = True,
        pretrained: Optional[str] = None,
        init_cfg=None,
    ):
        super().__init__(init_cfg=init_cfg)
        if pretrained is not None and arch != "vgg16":
            raise ValueError(f"pretrained (torchvision vgg16_bn) needs arch='vgg16', got arch={arch!r}")
        self.pretrained = pretrained
        self.encoder = build_segnet_encoder(
            arch,
            in_channels,
            widths=widths,
            channels=channels,
            num_stages=num_stages,
            kernel_size=kernel_size,
            ceil_mode=ceil_mode,
        )

    def init_weights(self):
        super().init_weights()
        if self.pretrained is not None:
            load_vgg16_bn_into_encoder(self.encoder, self.pretrained)

    def forward(self, x):
        y, records = self.encoder(x)
        return (y, *records)
