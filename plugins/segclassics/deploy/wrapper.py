"""The module that is exported: the model's semantic forward, optionally with the data
preprocessor's normalisation folded in front and the arg-max behind.

``net`` maps a normalised ``(N, C, H, W)`` float image to logits ``(N, K, H', W')`` -- what
mmseg's ``encode_decode`` or detectron2's backbone + ``sem_seg_head`` compute; the framework
glue (``segclassics.engine.semantic_forward``) builds it.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn


class Normalization(nn.Module):
    """``(x[:, order] - mean) / std`` on 0..255 images, as the configs' data preprocessors do.

    Args:
        mean, std: per channel, in the order the network sees the channels.
        reverse_channels: flip the channel order first (mmseg's ``bgr_to_rgb``: the pipeline
            loads BGR, the network sees RGB).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], reverse_channels: bool = False):
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean {list(mean)} and std {list(std)} differ in length")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.reverse_channels = reverse_channels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.reverse_channels:
            image = image.flip(1)
        return (image - self.mean) / self.std


class ExportWrapper(nn.Module):
    """``[normalise] -> net -> [arg-max over classes]``.

    Args:
        net: normalised image ``(N, C, H, W)`` -> logits ``(N, K, H', W')``.
        normalization: :class:`Normalization` to fold in (input: 0..255 images), or None.
        argmax: return ``int64`` labels ``(N, H', W')`` instead of the logits. For ``K == 1``
            (one sigmoid logit) the label is ``logit > 0`` (probability > 0.5).
    """

    def __init__(self, net: nn.Module, normalization: Optional[Normalization] = None, argmax: bool = False):
        super().__init__()
        self.net = net
        self.normalization = normalization
        self.argmax = argmax

    @property
    def output_name(self) -> str:
        return "labels" if self.argmax else "logits"

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image if self.normalization is None else self.normalization(image)
        logits = self.net(x)
        if not self.argmax:
            return logits
        if logits.shape[1] == 1:
            return (logits[:, 0] > 0).long()
        return logits.argmax(1)
