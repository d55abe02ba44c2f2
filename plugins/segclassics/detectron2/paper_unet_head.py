"""``PaperUNetSemSegHead``: the UNet expansive path (Ronneberger et al. 2015, Sec. 2) as a detectron2
semantic-segmentation head, with centre-cropped targets for the valid net."""

from __future__ import annotations

from typing import Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

from segclassics.detectron2.config import part_options
from segclassics.detectron2.sem_seg_head import TorchModuleSemSegHead, sem_seg_head_options
from segclassics.models.unet import UNetDecoder, check_labels, crop_labels_or_resize_logits, init_unet_weights


class _DecoderOnList(torch.nn.Module):
    # keeps the checkpoint keys ``sem_seg_head.module.decoder.*``
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
    centre-cropped to it (the output tile is the centre of the input tile, paper Fig. 2) by
    ``segclassics.models.unet.crop_labels_or_resize_logits``, the rule mmseg's ``PaperUNetHead`` applies.

    yaml: ``MODEL.SEM_SEG_HEAD.NAME: PaperUNetSemSegHead`` with ``MODEL.SEM_SEG_HEAD.{NUM_CLASSES,
    IGNORE_VALUE,LOSS_WEIGHT}`` and the backbone's ``MODEL.SEGCLASSICS.UNET.*`` (:meth:`from_config`).
    """

    @configurable
    def __init__(
        self,
        input_shape=None,
        *,
        num_classes: int,
        base_channels: int = 64,
        depth: int = 5,
        padding: str = "valid",
        norm=None,
        ignore_value: int = 255,
        loss_weight: float = 1.0,
    ):
        names = [f"unet{i}" for i in range(depth)]
        if input_shape is None:
            from detectron2.layers import ShapeSpec

            input_shape = {n: ShapeSpec(channels=base_channels * 2**i, stride=2**i) for i, n in enumerate(names)}
        missing = [n for n in names if n not in input_shape]
        if missing:
            raise ValueError(
                f"PaperUNetSemSegHead needs backbone features {names}; missing {missing} "
                f"(use PaperUNetBackbone with depth={depth})"
            )
        for i, n in enumerate(names):
            if input_shape[n].channels != base_channels * 2**i:
                raise ValueError(
                    f"{n} has {input_shape[n].channels} channels, expected base_channels * 2**{i} = "
                    f"{base_channels * 2**i}"
                )
        decoder = UNetDecoder(num_classes, base_channels, depth, padding, norm)
        init_unet_weights(decoder)
        super().__init__(_DecoderOnList(decoder), names, ignore_value=ignore_value, loss_weight=loss_weight)
        self.num_classes, self.padding = num_classes, padding

    @classmethod
    def from_config(cls, cfg, input_shape):
        u = part_options(cfg, "UNET")
        u.pop("dropout")  # the encoder's
        return dict(input_shape=input_shape, **sem_seg_head_options(cfg), **u)

    def align(self, logits: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        check_labels(targets, self.num_classes, self.ignore_value)
        logits, targets, _ = crop_labels_or_resize_logits(logits, targets)
        return logits, targets


@SEM_SEG_HEADS_REGISTRY.register()
def build_paper_unet_sem_seg_head(cfg, input_shape):
    """yaml: ``MODEL.SEM_SEG_HEAD.NAME: build_paper_unet_sem_seg_head``, the same head as
    ``PaperUNetSemSegHead`` (kept for configs that name the builder)."""
    return PaperUNetSemSegHead(cfg, input_shape)
