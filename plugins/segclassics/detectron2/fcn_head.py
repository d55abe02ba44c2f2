"""detectron2 semantic-segmentation head: FCN-32s / 16s / 8s (Long et al., CVPR 2015, Sec. 4.2).

The paper's skip decoder (:class:`segclassics.models.fcn.FCNDecoder`): zero-initialised 1x1
score layers on ``fc7``/``pool4``/``pool3``, bilinear-initialised transposed convolutions,
summation with the reference Caffe crops. Works with detectron2's ``SemanticSegmentor``:
in training the logits are cut to the (padded) target size, at inference they cover the
padded input aligned at the top-left (at most ``stride - 1`` extra rows/columns), which
``sem_seg_postprocess`` crops to each image's size.

yaml configs: ``MODEL.SEM_SEG_HEAD.NAME: "FCNSemSegHead"``, ``MODEL.SEM_SEG_HEAD.IN_FEATURES``
(``['pool3', 'pool4', 'fc7']`` for 8s), ``NUM_CLASSES``, ``IGNORE_VALUE``, ``LOSS_WEIGHT``;
FCN options under ``MODEL.SEGCLASSICS.FCN`` (``VARIANT``, ``MODE``, ``AT_ONCE``,
``LEARN_FINAL_UPSAMPLE``, ``LEARN_INTERMEDIATE_UPSAMPLE``; ``segclassics.detectron2.config``).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from detectron2.config import configurable
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

from segclassics.detectron2.config import part_options
from segclassics.detectron2.sem_seg_head import TorchModuleSemSegHead, select_shapes, sem_seg_head_options
from segclassics.models.fcn import FCNDecoder


@SEM_SEG_HEADS_REGISTRY.register()
class FCNSemSegHead(TorchModuleSemSegHead):
    """FCN skip decoder in detectron2's ``sem_seg_head(features, targets)`` convention.

    Args:
        input_shape: ``{name: ShapeSpec}`` of the backbone (``VGG16Backbone.output_shape()``);
            or give ``in_channels`` (the channels of ``in_features``) instead, e.g. in lazy configs.
        num_classes: classes (21 for PASCAL VOC).
        in_features: feature names, increasing stride: 8s ``('pool3', 'pool4', 'fc7')``,
            16s ``('pool4', 'fc7')``, 32s ``('fc7',)``.
        variant, mode, at_once, learn_final_upsample, learn_intermediate_upsample: see
            :class:`FCNDecoder`; ``mode`` must
            match the backbone geometry (caffe: ``conv1_1_padding=100``; padded: 1 and
            ``fc6_padding=3``) -- checked at run time.
        ignore_value, loss_weight, class_weights, loss_reduction: loss options
            (``TorchModuleSemSegHead``; ``loss_reduction='sum'`` for the reference recipe).

    Shapes: features -> logits ``(N, num_classes, H', W')`` with ``H' = H`` (training: the
    target size) or ``H <= H' < H + stride`` (inference); training returns
    ``(None, {"loss_sem_seg": ...})``.
    """

    @configurable
    def __init__(
        self,
        input_shape: Optional[Dict] = None,
        *,
        num_classes: int,
        in_features: Sequence[str] = ("pool3", "pool4", "fc7"),
        in_channels: Optional[Sequence[int]] = None,
        variant: str = "8s",
        mode: str = "caffe",
        at_once: bool = False,
        learn_final_upsample: bool = False,
        learn_intermediate_upsample: bool = True,
        ignore_value: int = 255,
        loss_weight: float = 1.0,
        class_weights: Optional[Sequence[float]] = None,
        loss_reduction: str = "mean",
    ):
        if in_channels is None:
            if input_shape is None:
                raise ValueError("FCNSemSegHead needs input_shape (the backbone's output_shape()) or in_channels")
            missing = [n for n in in_features if n not in input_shape]
            if missing:
                raise ValueError(
                    f"FCNSemSegHead: features {missing} are not produced by the backbone "
                    f"(it gives {sorted(input_shape)})"
                )
            in_channels = [s.channels for s in select_shapes(input_shape, list(in_features))]
        module = FCNDecoder(
            num_classes,
            variant,
            list(in_channels),
            mode=mode,
            at_once=at_once,
            learn_final_upsample=learn_final_upsample,
            learn_intermediate_upsample=learn_intermediate_upsample,
        )
        if len(in_features) != module.n_in:
            raise ValueError(f"FCN-{variant} consumes {module.n_in} features, in_features={list(in_features)}")
        super().__init__(
            module,
            in_features,
            ignore_value=ignore_value,
            loss_weight=loss_weight,
            class_weights=class_weights,
            common_stride=1,
            loss_reduction=loss_reduction,
        )

    @classmethod
    def from_config(cls, cfg, input_shape):
        return dict(
            input_shape=input_shape,
            in_features=list(cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES),
            **sem_seg_head_options(cfg),
            **part_options(cfg, "FCN"),
        )

    def layers(self, features: Dict[str, torch.Tensor], out_size: Optional[Sequence[int]] = None) -> torch.Tensor:
        # the reference crops need the input size: the target size in training
        return self.module([features[n] for n in self.in_features], out_size)
