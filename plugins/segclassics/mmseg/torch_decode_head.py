"""Base class for mmseg decode heads whose computation is a plain torch module.

mmseg's ``BaseDecodeHead`` always builds a 1x1 ``conv_seg`` classifier on ``channels``.
Our heads (FCN skip fusion, UNet/SegNet decoders, SETR decoders) classify inside their own
``segclassics.models`` module, so that layer would be an unused parameter, which breaks
DDP (``find_unused_parameters``) and wastes memory. This base removes it and leaves the
losses, sampling, ``ignore_index``, ``_transform_inputs`` and prediction resizing to mmseg.
Subclasses set ``self.module`` and, if needed, override :meth:`forward`.
"""
from __future__ import annotations

from mmseg.models.decode_heads.decode_head import BaseDecodeHead


class TorchModuleDecodeHead(BaseDecodeHead):
    """A ``BaseDecodeHead`` whose ``forward`` is ``self.module(selected inputs)``.

    Args:
        init_cfg: defaults to ``None``: the wrapped module initialises itself as its paper
            says (e.g. FCN's zero-initialised score layers and bilinear deconvolutions);
            mmseg's default ``Normal(std=0.01)`` on ``conv_seg`` would not apply.
        **kwargs: ``BaseDecodeHead`` arguments (``in_channels``, ``channels``, ``num_classes``,
            ``in_index``, ``input_transform``, ``loss_decode``, ``ignore_index``, ...).
    """

    def __init__(self, *, init_cfg=None, **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        del self.conv_seg  # see module docstring

    def cls_seg(self, feat):  # pragma: no cover - the wrapped module classifies
        raise RuntimeError(f"{type(self).__name__} classifies inside self.module; cls_seg is not used")

    def forward(self, inputs):
        return self.module(self._transform_inputs(inputs))
