"""``SETRSemSegHead``: SETR's Naive / PUP / MLA decoders (with auxiliary losses) as a detectron2
semantic-segmentation head, on :class:`~segclassics.detectron2.vit_backbone.SETRViTBackbone`.

The decoder is :class:`segclassics.models.setr_heads.SETRDecoder`, built from the same
:data:`~segclassics.models.setr_heads.SETR_DECODERS` spec as the framework-free ``SETR`` and the
mmseg heads. :func:`setr_checkpoint_to_detectron2` puts a whole converted SETR checkpoint
(``segclassics.models.vit_convert``) under this model's keys.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import torch
from detectron2.config import configurable
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

from segclassics.detectron2.config import part_options
from segclassics.detectron2.sem_seg_head import TorchModuleSemSegHead, sem_seg_head_options
from segclassics.models.setr_heads import SETR_DECODERS, SETRDecoder

__all__ = ["SETRSemSegHead", "setr_checkpoint_to_detectron2"]


@SEM_SEG_HEADS_REGISTRY.register()
class SETRSemSegHead(TorchModuleSemSegHead):
    """SETR decoder (Zheng et al., CVPR 2021, Sec. 3.3) + auxiliary losses (Sec. 4) for detectron2.

    Args:
        input_shape: the backbone's ``output_shape()`` (gives the encoder width and patch
            stride); None in lazy configs that pass ``embed_dim``.
        num_classes: classes.
        decoder: 'naive' | 'pup' | 'mla'.
        in_features: backbone outputs fed to the decoder: one for Naive/PUP (Z^24), four for MLA
            (Z^6, Z^12, Z^18, Z^24).
        aux_features: backbone outputs with an auxiliary head (Naive: Z^10, Z^15, Z^20; PUP:
            Z^10, Z^15, Z^20, Z^24). For MLA any non-empty value puts a 1x1 auxiliary classifier
            on each of the 4 neck outputs (the official configs).
        channels: decoder width (256).
        aux_weight: 0.4 (paper).
        norm: 'BN' / 'SyncBN' / 'GN' (``segclassics.models.norm``).
        embed_dim, patch_size: encoder width and patch size when ``input_shape`` is None.
        ignore_value, loss_weight, class_weights, loss_reduction: as ``TorchModuleSemSegHead``;
            the auxiliary losses use the same loss.

    yaml: ``MODEL.SEM_SEG_HEAD.{NAME: SETRSemSegHead, NUM_CLASSES, IN_FEATURES, IGNORE_VALUE,
    LOSS_WEIGHT}`` and ``MODEL.SEGCLASSICS.SETR.{DECODER, CHANNELS, AUX_FEATURES, AUX_WEIGHT, NORM}``.

    ``forward(features, targets)``: training ``(None, {"loss_sem_seg", "loss_sem_seg_aux"})``;
    inference ``(logits at the padded input size, {})``. Keeps no state between calls.
    """

    @configurable
    def __init__(
        self,
        input_shape=None,
        *,
        num_classes: int,
        decoder: str = "pup",
        in_features: Sequence[str] = ("layer24",),
        aux_features: Optional[Sequence[str]] = (),
        channels: int = 256,
        aux_weight: float = 0.4,
        norm: str = "BN",
        embed_dim: Optional[int] = None,
        patch_size: int = 16,
        ignore_value: int = 255,
        loss_weight: float = 1.0,
        class_weights: Optional[Sequence[float]] = None,
        loss_reduction: str = "mean",
    ):
        if decoder not in SETR_DECODERS:
            raise ValueError(f"decoder must be one of {sorted(SETR_DECODERS)}, got {decoder!r}")
        spec = SETR_DECODERS[decoder]
        aux_features = list(aux_features or ())
        need = len(spec.out_layers) if spec.aux_on_neck else 1
        if len(in_features) != need:
            raise ValueError(f"SETR-{decoder} takes {need} in_features, got {list(in_features)}")
        if input_shape is not None:
            missing = [n for n in list(in_features) + aux_features if n not in input_shape]
            if missing:
                raise ValueError(f"features {missing} are not backbone outputs {sorted(input_shape)}")
            embed_dim = input_shape[in_features[0]].channels
            patch_size = input_shape[in_features[0]].stride
        if embed_dim is None:
            raise ValueError("give input_shape (the backbone's output_shape()) or embed_dim")
        num_aux = (len(spec.aux_layers) if aux_features else 0) if spec.aux_on_neck else len(aux_features)
        module = SETRDecoder(decoder, embed_dim, num_classes, channels, num_aux, norm)
        super().__init__(
            module,
            in_features,
            ignore_value=ignore_value,
            loss_weight=loss_weight,
            class_weights=class_weights,
            common_stride=spec.output_stride(patch_size),
            loss_reduction=loss_reduction,
            aux_weight=aux_weight,
        )
        self.decoder = decoder
        self.aux_features = [] if spec.aux_on_neck else aux_features

    @classmethod
    def from_config(cls, cfg, input_shape):
        return dict(
            input_shape=input_shape,
            in_features=list(cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES),
            **sem_seg_head_options(cfg),
            **part_options(cfg, "SETR"),
        )

    def layers(self, features: Dict[str, torch.Tensor], out_size: Optional[Sequence[int]] = None):
        with_aux = self.training and len(self.module.aux_heads) > 0
        aux_in = [features[n] for n in self.aux_features] if with_aux else []
        logits, aux = self.module([features[n] for n in self.in_features], aux_in, with_aux)
        return (logits, aux) if with_aux else logits


def setr_checkpoint_to_detectron2(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Keys of a framework-free ``SETR`` (``backbone.*``, ``neck.*``, ``decode_head.*``,
    ``aux_heads.K.*``, as ``segclassics.models.vit_convert`` emits them) -> a detectron2
    ``SemanticSegmentor(SETRViTBackbone, SETRSemSegHead)``: ``backbone.net.*`` and
    ``sem_seg_head.module.*``. Other keys are kept, for the key check to report."""
    out = {}
    for k, v in state_dict.items():
        if k.startswith("backbone."):
            k = "backbone.net." + k[len("backbone.") :]
        elif k.startswith(("neck.", "decode_head.", "aux_heads.")):
            k = "sem_seg_head.module." + k
        out[k] = v
    return out
