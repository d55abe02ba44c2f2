"""``PaperUNetSemSegHead``: the UNet expansive path (Ronneberger et al. 2015, Sec. 2) as a detectron2
semantic-segmentation head, with centre-cropped targets for the valid net."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

from segclassics.detectron2.sem_seg_head import TorchModuleSemSegHead
from segclassics.models.unet import UNetDecoder, center_crop, check_labels, init_unet_weights


class _DecoderOnList(torch.nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, feats):
        return self.decoder(feats)


@SEM_SEG_HEADS_REGISTRY.register()
class PaperUNetSemSegHead(TorchModuleSemSegHead):
    """UNet expansive path + 1x1 classifier (paper Sec. 2, Fig. 1 right).

    Args:
        input_shape: the backbone's ``output_shape()`` (``unet0`` .. ``unet{depth-1}``), checked
            against ``base_channels``/``depth``; None skips the check (lazy configs).
        num_classes, base_channels, depth, padding, norm: as ``UNetDecoder``.
        ignore_value, loss_weight: as ``TorchModuleSemSegHead``.

    ``forward(features, targets)``: logits ``(N, num_classes, h, w)``; for ``'same'`` ``(h, w)`` is the
    (padded) input size; for ``'valid'`` the valid output size, and in training the targets are
    centre-cropped to it (the output tile is the centre of the input tile, paper Fig. 2).
    """

    def __init__(self, input_shape=None, *, num_classes: int, base_channels: int = 64, depth: int = 5,
                 padding: str = "valid", norm=None, ignore_value: int = 255, loss_weight: float = 1.0):
        names = [f"unet{i}" for i in range(depth)]
        if input_shape is None:
            from detectron2.layers import ShapeSpec
            input_shape = {n: ShapeSpec(channels=base_channels * 2 ** i, stride=2 ** i) for i, n in enumerate(names)}
        missing = [n for n in names if n not in input_shape]
        if missing:
            raise ValueError(f"PaperUNetSemSegHead needs backbone features {names}; missing {missing} "
                             f"(use PaperUNetBackbone with depth={depth})")
        for i, n in enumerate(names):
            if input_shape[n].channels != base_channels * 2 ** i:
                raise ValueError(f"{n} has {input_shape[n].channels} channels, expected base_channels * 2**{i} = "
                                 f"{base_channels * 2 ** i}")
        decoder = UNetDecoder(num_classes, base_channels, depth, padding, norm)
        init_unet_weights(decoder)
        super().__init__(_DecoderOnList(decoder), names, ignore_value=ignore_value, loss_weight=loss_weight)
        self.num_classes, self.padding = num_classes, padding

    def forward(self, features, targets=None):
        logits = self.layers(features)
        if not self.training:
            return logits, {}
        if targets is None:
            raise ValueError("PaperUNetSemSegHead needs targets in training")
        check_labels(targets, self.num_classes, self.ignore_value)
        if targets.shape[-2] >= logits.shape[-2] and targets.shape[-1] >= logits.shape[-1]:
            targets = center_crop(targets, logits.shape[-2:])
        else:
            logits = F.interpolate(logits, size=targets.shape[-2:], mode="bilinear", align_corners=False)
        return None, self.losses(logits, targets)


@SEM_SEG_HEADS_REGISTRY.register()
def build_paper_unet_sem_seg_head(cfg, input_shape):
    """yaml: ``MODEL.SEM_SEG_HEAD.NAME: build_paper_unet_sem_seg_head``; ``MODEL.SEM_SEG_HEAD.{NUM_CLASSES,
    IGNORE_VALUE,LOSS_WEIGHT}`` and ``MODEL.UNET.*`` as the backbone."""
    u = cfg.MODEL.get("UNET", {})
    h = cfg.MODEL.SEM_SEG_HEAD
    return PaperUNetSemSegHead(input_shape, num_classes=h.NUM_CLASSES, base_channels=u.get("BASE_CHANNELS", 64),
                               depth=u.get("DEPTH", 5), padding=u.get("PADDING", "valid"),
                               norm=u.get("NORM", "") or None, ignore_value=h.IGNORE_VALUE,
                               loss_weight=h.LOSS_WEIGHT)
