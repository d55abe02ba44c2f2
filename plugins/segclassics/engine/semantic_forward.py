"""A built semantic-segmentation model's inference forward as a plain module, per framework.

``semantic_forward(loaded, model)`` returns the network that maps a *normalised* image batch
``(N, C, H, W)`` to logits ``(N, K, H, W)``, exactly what the framework computes at test time
after its data preprocessing, plus that preprocessing's constants:

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

from .config_kind import MMENGINE, D2_YAML
from .config_loader import LoadedConfig


@dataclass
class SemanticForward:
    """``net``: normalised image -> logits. ``mean``/``std`` per channel in the order ``net``
    sees them; ``input_order``: channel order of the 0..255 images the config's pipeline loads
    ('BGR', 'RGB' or 'GRAY'); ``reverse_channels``: the preprocessor flips that order first;
    ``output_border``: pixels the output lacks on each side (0 but for the valid UNet)."""
    net: nn.Module
    mean: List[float]
    std: List[float]
    input_order: str
    reverse_channels: bool
    output_border: int = 0


class _MMSegEncodeDecode(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # img_shape as a torch.Size: the decode head resizes its logits to exactly the input size
        return self.model.encode_decode(x, [dict(img_shape=x.shape[2:])])


class _MMSegValidUNet(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # what overlap-tile inference runs on each tile (OverlapTileEncoderDecoder.inference)
        return self.model.decode_head.forward(self.model.extract_feat(x))


class _Detectron2SemSeg(nn.Module):
    def __init__(self, model: nn.Module, crop: bool):
        super().__init__()
        self.model, self.crop = model, crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, _ = self.model.sem_seg_head(self.model.backbone(x), None)
        return logits[..., :x.shape[-2], :x.shape[-1]] if self.crop else logits


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
    the test mapper's ``image_format`` (LazyConfig; detectron2's default 'BGR'); 'L' is 'GRAY'."""
    if loaded.kind == D2_YAML:
        order = loaded.cfg.INPUT.FORMAT
    else:
        order = loaded.cfg.get("dataloader", {}).get("test", {}).get("mapper", {}).get("image_format", "BGR")
    return "GRAY" if order == "L" else order


def semantic_forward(loaded: LoadedConfig, model: nn.Module) -> SemanticForward:
    """See the module docstring. ``model`` is put in eval mode."""
    model.eval()
    border = valid_unet_border(model)
    if loaded.kind == MMENGINE:
        pre = model.data_preprocessor
        if getattr(pre, "_enable_normalize", False):
            mean, std = _flat(pre.mean), _flat(pre.std)
        else:  # no normalisation configured: the network sees 0..255 values
            channels = model.backbone.in_channels if hasattr(model.backbone, "in_channels") else 3
            mean, std = [0.0] * channels, [1.0] * channels
        net = _MMSegValidUNet(model) if border else _MMSegEncodeDecode(model)
        order = "GRAY" if len(mean) == 1 else "BGR"
        return SemanticForward(net, mean, std, order, bool(getattr(pre, "channel_conversion", False)), border)
    return SemanticForward(_Detectron2SemSeg(model, crop=not border), _flat(model.pixel_mean),
                           _flat(model.pixel_std), detectron2_input_order(loaded), False, border)
