"""detectron2 semantic-segmentation head: SegNet's unpooling decoder.

Badrinarayanan et al., "SegNet", TPAMI 2017, Sec. 3: each decoder stage unpools with the
indices of its mirrored encoder pool, then convolves; a soft-max classifier ends the net.
Reads the encoder output and the ``pool{k}_indices`` / ``pool{k}_size`` entries that
``SegNetEncoderBackbone`` puts into the feature dict (see that module).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from detectron2.config import configurable
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

from segclassics.detectron2.segnet_backbone import segnet_args_from_cfg
from segclassics.detectron2.sem_seg_head import TorchModuleSemSegHead, sem_seg_head_options
from segclassics.models.segnet import build_segnet_decoder, pool_records_from_dict


@SEM_SEG_HEADS_REGISTRY.register()
class SegNetSemSegHead(TorchModuleSemSegHead):
    """SegNet / SegNet-Basic decoder in detectron2's ``sem_seg_head(features, targets)`` convention.

    Args:
        num_classes: classes (CamVid: 11).
        arch, widths, channels, num_stages, kernel_size: as the backbone (must match it).
        in_feature: the encoder output name (``'pool5'`` for SegNet, ``'pool4'`` for SegNet-Basic).
        ignore_value: label excluded from the loss (CamVid files: 11).
        loss_weight: loss multiplier.
        class_weights: per-class weights (median frequency balancing, SegNet Sec. 3.2).

    Shapes: features as ``SegNetEncoderBackbone`` returns them -> logits ``(N, num_classes, H, W)``
    at the (padded) input size; training returns ``(None, {"loss_sem_seg": ...})``.
    """

    @configurable
    def __init__(
        self,
        *,
        num_classes: int,
        arch: str = "vgg16",
        widths: Optional[Sequence[int]] = None,
        channels: int = 64,
        num_stages: int = 4,
        kernel_size: int = 7,
        in_feature: Optional[str] = None,
        ignore_value: int = 255,
        loss_weight: float = 1.0,
        class_weights: Optional[Sequence[float]] = None,
    ):
        module = build_segnet_decoder(
            arch, num_classes, widths=widths, channels=channels, num_stages=num_stages, kernel_size=kernel_size
        )
        in_feature = in_feature or f"pool{module.num_stages}"
        super().__init__(
            module,
            [in_feature],
            ignore_value=ignore_value,
            loss_weight=loss_weight,
            class_weights=class_weights,
            common_stride=1,
        )
        self.num_stages = module.num_stages

    @classmethod
    def from_config(cls, cfg, input_shape):
        args = segnet_args_from_cfg(cfg)
        return dict(in_feature=list(input_shape)[0], **sem_seg_head_options(cfg), **args)

    def layers(self, features: Dict[str, torch.Tensor], out_size: Optional[Sequence[int]] = None) -> torch.Tensor:
        name = self.in_features[0]
        if name not in features:
            raise KeyError(
                f"SegNetSemSegHead needs feature {name!r} (the SegNet encoder output); got {sorted(features)}"
            )
        return self.module(features[name], pool_records_from_dict(features, self.num_stages))
