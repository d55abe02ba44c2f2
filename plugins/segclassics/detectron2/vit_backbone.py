"""The SETR ViT encoder as a detectron2 backbone (``BACKBONE_REGISTRY``).

Zheng et al., SETR, CVPR 2021, Sec. 3.1-3.2 / Dosovitskiy et al., ViT, ICLR 2021, Sec. 3.1.
The computation is :class:`segclassics.models.vit.VisionTransformer` (SDPA attention,
optional activation checkpointing); this file only adapts it to detectron2's ``Backbone``.

Lazy configs::

    backbone = L(SETRViTBackbone)(img_size=1024, embed_dim=768, depth=12, num_heads=12,
                                  out_indices=(11,), out_features=("last_feat",))

(ViTDet's ``SimpleFeaturePyramid(net=backbone, in_feature="last_feat", ...)`` builds a
pyramid on it.) Yaml configs: ``MODEL.BACKBONE.NAME: "SETRViTBackbone"`` with options under
``MODEL.SEGCLASSICS.VIT`` (the argument names in upper case, e.g. ``EMBED_DIM``, ``DEPTH``,
``OUT_INDICES``, ``PRETRAINED``; typed defaults in ``segclassics.detectron2.config``).
``MODEL.BACKBONE.NAME: "build_setr_vit_sfp_backbone"`` puts ViTDet's ``SimpleFeaturePyramid`` on it
(``MODEL.SEGCLASSICS.SFP``; ``MODEL.FPN.{OUT_CHANNELS,NORM}``), as the LazyConfig above.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from detectron2.modeling.backbone.vit import SimpleFeaturePyramid

from segclassics.detectron2.config import part_options
from segclassics.models.vit import VisionTransformer, rename_in_chans
from segclassics.models.vit_convert import convert_vit_checkpoint
from segclassics.utils.checkpoint import read_state_dict

__all__ = ["SETRViTBackbone", "build_setr_vit_sfp_backbone"]


@BACKBONE_REGISTRY.register()
class SETRViTBackbone(Backbone):
    """ViT encoder: image (N, in_channels, H, W) -> {name: (N, embed_dim, ceil(H/p), ceil(W/p))}.

    Args:
        img_size: size of the position-embedding grid (pretraining size); other input sizes
            are handled by bicubic resizing of the embedding.
        patch_size, in_channels, embed_dim, depth, num_heads, mlp_ratio, qkv_bias, drop_path_rate,
        class_token, final_norm, interpolate_mode, with_cp: see ``VisionTransformer``.
        out_indices: 0-based layers returned.
        out_features: their names (default ``layer{i+1}``, SETR's ``Z^{i+1}``).
        pretrained: optional checkpoint (timm, mmseg or official SETR keys, see
            ``segclassics.models.vit_convert``), loaded with a key-by-key check.
        pretrained_format: 'auto', 'timm', 'mmseg' or 'official'.
        in_chans: deprecated name of ``in_channels`` (a ``DeprecationWarning``).

    ``output_shape()`` gives ``ShapeSpec(channels=embed_dim, stride=patch_size)`` per output and
    ``size_divisibility`` is ``patch_size`` (detectron2 pads batches to it; the encoder would
    pad anyway).
    """

    @configurable
    def __init__(
        self,
        *,
        img_size=224,
        patch_size: int = 16,
        in_channels: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        out_indices: Sequence[int] = (-1,),
        out_features: Optional[Sequence[str]] = None,
        drop_path_rate: float = 0.0,
        class_token: bool = False,
        final_norm: bool = False,
        interpolate_mode: str = "bicubic",
        with_cp: bool = False,
        pretrained: Optional[str] = None,
        pretrained_format: str = "auto",
        in_chans: Optional[int] = None,
    ):
        super().__init__()
        if in_chans is not None:
            in_channels = rename_in_chans(dict(in_chans=in_chans), "SETRViTBackbone")["in_channels"]
        self.net = VisionTransformer(
            img_size=img_size,
            patch_size=patch_size,
            in_channels=in_channels,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            out_indices=tuple(out_indices),
            class_token=class_token,
            drop_path_rate=drop_path_rate,
            final_norm=final_norm,
            interpolate_mode=interpolate_mode,
            with_cp=with_cp,
        )
        names = list(out_features) if out_features is not None else [f"layer{i + 1}" for i in self.net.out_indices]
        if len(names) != len(self.net.out_indices) or len(set(names)) != len(names):
            raise ValueError(
                f"out_features {names} must be {len(self.net.out_indices)} distinct names, one per "
                f"out_indices entry {self.net.out_indices}"
            )
        self._out_features = names
        self._out_feature_channels = {n: embed_dim for n in names}
        self._out_feature_strides = {n: patch_size for n in names}
        if pretrained:
            sd = convert_vit_checkpoint(read_state_dict(pretrained), pretrained_format, backbone_only=True)
            self.net.load_pretrained(sd)

    @classmethod
    def from_config(cls, cfg, input_shape: Optional[ShapeSpec] = None):
        kwargs = part_options(cfg, "VIT")
        kwargs["out_indices"] = tuple(kwargs["out_indices"] or (-1,))
        if input_shape is not None and input_shape.channels:
            kwargs["in_channels"] = input_shape.channels
        return kwargs

    @property
    def size_divisibility(self) -> int:
        return self.net.patch_size

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return dict(zip(self._out_features, self.net(x)))

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {
            n: ShapeSpec(channels=self._out_feature_channels[n], stride=self._out_feature_strides[n])
            for n in self._out_features
        }


@BACKBONE_REGISTRY.register()
def build_setr_vit_sfp_backbone(cfg, input_shape: ShapeSpec):
    """yaml: ``MODEL.BACKBONE.NAME: build_setr_vit_sfp_backbone``: ViTDet's ``SimpleFeaturePyramid`` (Li et al.
    2022, Sec. 3: strides 4-32 from the last ViT map, plus a max-pooled ``p6``) on ``SETRViTBackbone``
    (``MODEL.SEGCLASSICS.VIT``), with ``MODEL.SEGCLASSICS.SFP.{IN_FEATURE,SCALE_FACTORS,SQUARE_PAD}`` and
    ``MODEL.FPN.{OUT_CHANNELS,NORM}`` (ViTDet: 256, ``'LN'``)."""
    sfp = part_options(cfg, "SFP")
    return SimpleFeaturePyramid(
        net=SETRViTBackbone(cfg, input_shape),
        in_feature=sfp["in_feature"],
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        scale_factors=tuple(sfp["scale_factors"]),
        top_block=LastLevelMaxPool(),
        norm=cfg.MODEL.FPN.NORM,
        square_pad=sfp["square_pad"] or 0,
    )
