"""A built semantic-segmentation model's inference forward as a plain module, per framework.

``semantic_forward(loaded, model)`` returns (asked of the config's backend, :mod:`.backends`)
the network that maps a *normalised* image batch ``(N, C, H, W)`` to logits ``(N, K, H, W)``,
exactly what the framework computes at test time after its data preprocessing, plus that
preprocessing's constants:

* mmseg: ``EncoderDecoder.encode_decode`` (backbone, neck, decode head, resize of the logits to
  the input); normalisation from the model's ``SegDataPreProcessor`` (``mean``, ``std``,
  ``bgr_to_rgb``; mmcv loads colour images as BGR).
* detectron2: ``backbone`` + ``sem_seg_head`` and the crop of the logits to the input that
  ``sem_seg_postprocess`` does (FCN's logits may cover up to ``stride - 1`` extra pixels);
  normalisation from ``pixel_mean`` / ``pixel_std``, channel order from ``INPUT.FORMAT``
  (yaml) or the test mapper's ``image_format`` (LazyConfig).

The paper's valid-convolution UNet has no full-size forward (its frameworks use overlap-tile
inference): its network output is the centre ``(H - 2b, W - 2b)`` of the input, ``b`` its
border (92 for the paper's net). That is what ``semantic_forward`` returns for it
(``output_border``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import torch
from torch import nn

from .config_loader import LoadedConfig


@dataclass
class SemanticForward:
    """``net``: normalised image -> logits. ``mean``/``std`` per channel in the order ``net``
    sees them; ``input_order``: channel order of the 0..255 images the config's pipeline loads
    ('BGR', 'RGB' or 'L' for grey, Pillow's and detectron2's name); ``reverse_channels``: the
    preprocessor flips that order first; ``output_border``: pixels the output lacks on each side
    (0 but for the valid UNet)."""

    net: nn.Module
    mean: List[float]
    std: List[float]
    input_order: str
    reverse_channels: bool
    output_border: int = 0


def valid_unet_border(model: nn.Module) -> int:
    """Pixels a valid-convolution UNet in ``model`` loses at each side (92 for the paper's), 0 if it has none."""
    from segclassics.models.unet import UNetEncoder, unet_border

    encoders = [m for m in model.modules() if isinstance(m, UNetEncoder)]
    if encoders and encoders[0].padding == "valid":
        return unet_border(encoders[0].depth, "valid")
    return 0


def _flat(t: torch.Tensor) -> List[float]:
    return [float(v) for v in t.flatten()]


def detectron2_input_order(loaded: LoadedConfig) -> str:
    """Channel order of the images a detectron2 config feeds its model: ``INPUT.FORMAT`` (yaml) or
    the test mapper's ``image_format`` (LazyConfig; detectron2's default 'BGR'); 'L' for grey."""
    return loaded.backend.input_order(loaded)


def semantic_forward(loaded: LoadedConfig, model: nn.Module) -> SemanticForward:
    """See the module docstring (each backend's ``semantic_forward``). ``model`` is put in eval mode."""
    model.eval()
    return loaded.backend.semantic_forward(loaded, model, valid_unet_border(model))
