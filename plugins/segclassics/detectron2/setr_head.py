"""``SETRSemSegHead``: SETR's Naive / PUP / MLA decoders (with auxiliary losses) as a detectron2
semantic-segmentation head, on :class:`~segclassics.detectron2.vit_backbone.SETRViTBackbone`."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

from segclassics.detectron2.sem_seg_head import TorchModuleSemSegHead
from segclassics.models.setr_heads import SETRMLAHead, SETRMLANeck, SETRUpHead

_STRIDE = {"naive": 16, "pup": 1, "mla": 4}


class _Decoder(nn.Module):
    def __init__(self, decoder: str, dim: int, channels: int, num_classes: int, norm: str):
        super().__init__()
        self.decoder = decoder
        if decoder == "naive":
            self.head = SETRUpHead(dim, channels, num_classes, num_convs=1, kernel_size=1, up_scale=1, norm=norm)
        elif decoder == "pup":
            self.head = SETRUpHead(dim, channels, num_classes, num_convs=4, kernel_size=3, up_scale=2, norm=norm)
        else:
            self.neck = SETRMLANeck([dim] * 4, channels, norm)
            self.head = SETRMLAHead(channels, channels // 2, num_classes, 4, norm=norm)

    def forward(self, feats):
        if self.decoder == "mla":
            self.neck_out = self.neck(feats)
            return self.head(self.neck_out)
        return self.head(feats[0])


@SEM_SEG_HEADS_REGISTRY.register()
class SETRSemSegHead(TorchModuleSemSegHead):
    """SETR decoder (Zheng et al., CVPR 2021, Sec. 3.3) + auxiliary losses (Sec. 4) for detectron2.

    Args:
        input_shape: the backbone's ``output_shape()`` (gives the encoder width); None in lazy
            configs that pass ``embed_dim``.
        num_classes: classes.
        decoder: 'naive' | 'pup' | 'mla'.
        in_features: backbone outputs fed to the decoder: one for Naive/PUP (Z^24), four for MLA
            (Z^6, Z^12, Z^18, Z^24).
        aux_features: backbone outputs with an auxiliary head (Naive: Z^10, Z^15, Z^20; PUP:
            Z^10, Z^15, Z^20, Z^24). For MLA any non-empty value puts a 1x1 auxiliary classifier
            on each of the 4 neck outputs.
        channels: decoder width (256).
        aux_weight: 0.4 (paper).
        norm: 'BN' / 'SyncBN' / 'GN'.
        ignore_value, loss_weight: as ``TorchModuleSemSegHead``.

    ``forward(features, targets)``: training ``(None, {"loss_sem_seg", "loss_sem_seg_aux"})``;
    inference ``(logits at the padded input size, {})``.
    """

    def __init__(self, input_shape=None, *, num_classes: int, decoder: str = "pup",
                 in_features: Sequence[str] = ("layer24",), aux_features: Sequence[str] = (), channels: int = 256,
                 aux_weight: float = 0.4, norm: str = "BN", embed_dim: Optional[int] = None,
                 ignore_value: int = 255, loss_weight: float = 1.0):
        if decoder not in _STRIDE:
            raise ValueError(f"decoder must be one of {sorted(_STRIDE)}, got {decoder!r}")
        need = 4 if decoder == "mla" else 1
        if len(in_features) != need:
            raise ValueError(f"SETR-{decoder} takes {need} in_features, got {list(in_features)}")
        if input_shape is not None:
            missing = [n for n in list(in_features) + list(aux_features) if n not in input_shape]
            if missing:
                raise ValueError(f"features {missing} are not backbone outputs {sorted(input_shape)}")
            embed_dim = input_shape[in_features[0]].channels
        if embed_dim is None:
            raise ValueError("give input_shape (the backbone's output_shape()) or embed_dim")
        super().__init__(_Decoder(decoder, embed_dim, channels, num_classes, norm), in_features,
                         ignore_value=ignore_value, loss_weight=loss_weight, common_stride=_STRIDE[decoder])
        self.decoder, self.aux_weight = decoder, aux_weight
        self.aux_features = list(aux_features)
        if decoder == "mla":
            n_aux = 4 if aux_features else 0
            self.aux_heads = nn.ModuleList([SETRUpHead(channels, channels, num_classes, num_convs=0, input_norm=False)
                                            for _ in range(n_aux)])
        elif decoder == "naive":
            self.aux_heads = nn.ModuleList([SETRUpHead(embed_dim, channels, num_classes, 1, 1, 1, norm=norm)
                                            for _ in aux_features])
        else:
            self.aux_heads = nn.ModuleList([SETRUpHead(embed_dim, channels, num_classes, 1, 3, 4, norm=norm)
                                            for _ in aux_features])

    def forward(self, features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor] = None):
        out = super().forward(features, targets)
        if not self.training or not len(self.aux_heads):
            return out
        srcs = self.module.neck_out if self.decoder == "mla" else [features[n] for n in self.aux_features]
        aux = 0.0
        for head, src in zip(self.aux_heads, srcs):
            logits = F.interpolate(head(src), size=targets.shape[-2:], mode="bilinear", align_corners=False)
            aux = aux + F.cross_entropy(logits.float(), targets, ignore_index=self.ignore_value)
        out[1]["loss_sem_seg_aux"] = aux * self.aux_weight
        return out
