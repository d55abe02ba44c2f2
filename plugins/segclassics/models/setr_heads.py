"""SETR decoders (plain torch): Naive, PUP, MLA neck + head, auxiliary heads, full model.

Zheng et al., "Rethinking Semantic Segmentation from a Sequence-to-Sequence Perspective with
Transformers", CVPR 2021, Sec. 3.3 (decoder designs) and Sec. 4 (auxiliary losses).

* **Naive** (SETR-Naive): 1x1 conv + BN + ReLU + 1x1 conv to the classes on ``Z^{24}``
  (H/16 x W/16), then bilinear upsampling to the image size (done by the caller / the
  framework's loss, on the logits).
* **PUP** (progressive upsampling): 4 stages of 3x3 conv + BN + ReLU + 2x bilinear upsampling,
  then a 1x1 classifier. Because bilinear interpolation weights sum to one and a 1x1 conv is
  per-pixel linear, ``cls(up(x)) == up(cls(x))``: we classify *before* the last 2x upsampling,
  which is the same function but never materialises the (B, 256, H, W) feature map.
* **MLA** (multi-level feature aggregation): 4 streams on ``Z^6, Z^12, Z^18, Z^24`` (ViT-L).
  Neck: per stream LayerNorm, 1x1 conv (+BN+ReLU), top-down element-wise addition (deepest
  first), 3x3 conv (+BN+ReLU). Head: per stream two 3x3 convs (+BN+ReLU) and 4x bilinear
  upsampling, channel concatenation, classifier. Same linearity argument: we concatenate and
  classify at H/16 and upsample the logits 4x (identical output, far less memory).
* **Auxiliary heads** (Sec. 4, "Auxiliary loss"): SETR-Naive on Z^10, Z^15, Z^20; SETR-PUP on
  Z^10, Z^15, Z^20, Z^24; SETR-MLA on Z^6, Z^12, Z^18, Z^24 (here: on the 4 MLA neck outputs,
  as the official/mmseg configs). Weight 0.4 each. Their structure follows the official code
  (fudan-zvg/SETR ``VisionTransformerUpHead``): Naive aux = the Naive head; PUP aux = LN,
  3x3 conv + BN + ReLU, 4x upsampling, 1x1 classifier; MLA aux = 1x1 classifier on a neck output.
  (mmseg's ADE20K SETR-PUP config instead uses 3 aux heads with 2 conv stages each.)

**Layer numbers.** The paper numbers the transformer layers from 1: ``Z^l``, ``l = 1..24`` for
ViT-L (Sec. 3.1, Eq. 1-2; Sec. 3.3 and 4 name the layers each decoder reads). The code and every
config key use 0-based encoder indices, as timm and mmseg do: ``Z^l`` is ``out_indices`` entry
``l - 1`` (ViT-L SETR-PUP: ``out_indices=(9, 14, 19, 23)`` = ``Z^10, Z^15, Z^20, Z^24``).
The paper's numbers appear in one place, :data:`SETR_DECODERS`, and are converted once, by
:func:`setr_layer_indices` when :func:`build_setr` builds the encoder. Two other numbers are not
layer indices: a head's ``in_index`` (mmseg) / ``decode_in``, ``aux_in`` (here) is a position in
the encoder's output list, and detectron2's default feature names ``layer{l}`` name ``Z^l``.

All heads take ``(B, C, h, w)`` maps (channels-last views from :class:`VisionTransformer`
are fine) and return logits ``(B, num_classes, h', w')``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .norm import build_norm
from .vit import VIT_PRESETS, VisionTransformer

__all__ = [
    "ConvBNReLU",
    "SETRUpHead",
    "SETRMLANeck",
    "SETRMLAHead",
    "SETRDecoder",
    "SETR",
    "build_setr",
    "SETRDecoderSpec",
    "SETR_DECODERS",
    "SETR_AUX_LAYERS",
    "setr_layer_indices",
    "channel_layer_norm",
]

#: Output elements above which :func:`upsample_bilinear` splits the batch. CUDA's channels-last
#: bilinear kernel indexes with 32-bit integers and refuses larger outputs ("upsample_bilinear2d_nhwc
#: only supports output tensors with less than INT_MAX elements"); SETR's 150-class logits at 512x512
#: reach that at batch 64, while the encoder would still fit in memory.
MAX_INTERPOLATE_ELEMENTS = 2**31 - 1


def upsample_bilinear(
    x: torch.Tensor, *, scale_factor: Optional[int] = None, size=None, align_corners: bool = False
) -> torch.Tensor:
    """``F.interpolate(x, mode='bilinear')``, in batch chunks when the output would exceed
    :data:`MAX_INTERPOLATE_ELEMENTS` (each image is interpolated on its own, so the result and its
    gradient are the same).

    While tracing or exporting, the call is one plain ``F.interpolate`` with the given
    ``scale_factor`` or ``size``: the output size is not turned into constants, so an exported graph
    keeps following its input's height and width."""

    def interpolate(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, size=size, scale_factor=scale_factor, mode="bilinear", align_corners=align_corners)

    if x.shape[0] == 1 or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return interpolate(x)
    out_h, out_w = size if size is not None else (int(x.shape[-2] * scale_factor), int(x.shape[-1] * scale_factor))
    per_image = x.shape[1] * out_h * out_w
    if x.shape[0] * per_image <= MAX_INTERPOLATE_ELEMENTS:
        return interpolate(x)
    step = max(1, MAX_INTERPOLATE_ELEMENTS // per_image)
    return torch.cat([interpolate(chunk) for chunk in x.split(step)])


@dataclass(frozen=True)
class SETRDecoderSpec:
    """One SETR decoder design, as the paper (Sec. 3.3, 4) and the official ADE20K configs build it.

    Attributes:
        out_layers: 1-based transformer layers ``Z^l`` (of ViT-L's 24) the decoder reads.
        aux_layers: layers with an auxiliary head; MLA's auxiliary heads read the neck outputs.
        head: :class:`SETRUpHead` arguments of the decoder (empty for MLA: :class:`SETRMLAHead`).
        aux_head: :class:`SETRUpHead` arguments of each auxiliary head.
        aux_on_neck: the auxiliary heads read the MLA neck outputs instead of encoder layers.
        upsampling: total upsampling of the decoder; the logits have stride ``patch / upsampling``.
    """

    out_layers: Tuple[int, ...]
    aux_layers: Tuple[int, ...]
    head: Dict[str, int] = field(default_factory=dict)
    aux_head: Dict[str, Union[int, bool]] = field(default_factory=dict)
    aux_on_neck: bool = False
    upsampling: int = 1

    def output_stride(self, patch_size: int = 16) -> int:
        """Stride of the logits relative to the input (Naive 16, PUP 1, MLA 4 for 16x16 patches)."""
        return max(1, patch_size // self.upsampling)


SETR_DECODERS: Dict[str, SETRDecoderSpec] = {
    # 1x1 conv + BN + ReLU + 1x1 classifier at H/16; aux heads: the same head on Z^10, Z^15, Z^20
    "naive": SETRDecoderSpec(
        (24,),
        (10, 15, 20),
        dict(num_convs=1, kernel_size=1, up_scale=1),
        dict(num_convs=1, kernel_size=1, up_scale=1),
        upsampling=1,
    ),
    # 4 x (3x3 conv + BN + ReLU + 2x up); official aux head: LN, 3x3 conv + BN + ReLU, 4x up, classifier
    "pup": SETRDecoderSpec(
        (24,),
        (10, 15, 20, 24),
        dict(num_convs=4, kernel_size=3, up_scale=2),
        dict(num_convs=1, kernel_size=3, up_scale=4),
        upsampling=16,
    ),
    # MLA neck + head (4x up); aux heads: 1x1 classifiers on the 4 neck outputs
    "mla": SETRDecoderSpec(
        (6, 12, 18, 24), (6, 12, 18, 24), {}, dict(num_convs=0, input_norm=False), aux_on_neck=True, upsampling=4
    ),
}

# 1-based transformer layers Z^l of each decoder's auxiliary heads (ViT-L, 24 layers), paper Sec. 3.3/4.
SETR_AUX_LAYERS = {k: v.aux_layers for k, v in SETR_DECODERS.items()}


def _spec(decoder: str) -> SETRDecoderSpec:
    if decoder not in SETR_DECODERS:
        raise ValueError(f"decoder must be one of {sorted(SETR_DECODERS)}, got {decoder!r}")
    return SETR_DECODERS[decoder]


def setr_layer_indices(layers: Sequence[int], depth: int) -> List[int]:
    """0-based encoder indices (``out_indices``) of the paper's 1-based ViT-L layers ``Z^l``,
    scaled to ``depth``: ``round(l * depth / 24) - 1`` (``l - 1`` for 24 layers). The only
    conversion between the two numberings (module docstring, "Layer numbers")."""
    return [max(1, round(layer * depth / 24)) - 1 for layer in layers]


class ConvBNReLU(nn.Sequential):
    """conv (no bias) + norm + ReLU, the ConvModule of mmseg with norm_cfg=BN."""

    def __init__(self, cin: int, cout: int, k: int, norm: str = "BN"):
        if norm is None:
            raise ValueError("SETR's decoder convs are followed by a norm layer: norm must be 'BN', 'SyncBN' or 'GN'")
        super().__init__(
            nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), build_norm(norm, cout), nn.ReLU(inplace=True)
        )


def channel_layer_norm(x: torch.Tensor, ln: nn.LayerNorm) -> torch.Tensor:
    """LayerNorm over the channels of a (B, C, H, W) map, without a contiguous copy for the
    channels-last views the ViT returns."""
    return ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


#: the normalisation layers :func:`_init_convs` sets to the identity (weight 1, bias 0)
NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def _init_convs(module: nn.Module) -> None:
    if any(p.is_meta for p in module.parameters()):
        return
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, NORM_LAYERS):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class SETRUpHead(nn.Module):
    """Naive / PUP decoder (and their auxiliary heads).

    Args:
        in_channels: encoder width C (1024 for ViT-L).
        channels: decoder width (256 in the official ADE20K configs).
        num_classes: output classes.
        num_convs: conv stages (Naive 1, PUP 4, PUP aux 2); 0 = classifier only.
        kernel_size: 1 (Naive) or 3 (PUP).
        up_scale: bilinear factor after each stage (Naive 1, PUP 2).
        input_norm: LayerNorm over the input channels first (the official heads do).
        norm: 'BN' / 'SyncBN' / 'GN' (:mod:`segclassics.models.norm`).
        dropout: dropout before the classifier.
        align_corners: of the bilinear upsampling.
        decoder: the SETR decoder (a key of :data:`SETR_DECODERS`) this head is part of, as its
            main or an auxiliary head; kept as ``self.decoder`` (a plain attribute, not in the
            state dict) for code that asks which SETR it holds, e.g. the ONNX export.

    Shapes: (B, in_channels, h, w) -> (B, num_classes, h * up_scale**num_convs, ...).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        num_classes: int,
        num_convs: int = 1,
        kernel_size: int = 1,
        up_scale: int = 1,
        input_norm: bool = True,
        norm: str = "BN",
        dropout: float = 0.0,
        align_corners: bool = False,
        decoder: str = "naive",
    ):
        super().__init__()
        _spec(decoder)  # a known decoder
        self.decoder = decoder
        if kernel_size not in (1, 3):
            raise ValueError(f"kernel_size must be 1 (Naive) or 3 (PUP), got {kernel_size}")
        if num_convs < 0 or up_scale < 1:
            raise ValueError(f"num_convs must be >= 0 and up_scale >= 1, got {num_convs}, {up_scale}")
        self.num_convs, self.up_scale, self.align_corners = num_convs, up_scale, align_corners
        self.norm = nn.LayerNorm(in_channels, eps=1e-6) if input_norm else None
        convs, cin = [], in_channels
        for _ in range(num_convs):
            convs.append(ConvBNReLU(cin, channels, kernel_size, norm))
            cin = channels
        self.convs = nn.ModuleList(convs)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.cls = nn.Conv2d(cin, num_classes, 1)
        _init_convs(self)
        if not self.cls.weight.is_meta:
            nn.init.normal_(self.cls.weight, std=0.01)

    def _up(self, x):
        return upsample_bilinear(x, scale_factor=self.up_scale, align_corners=self.align_corners)

    def forward(self, x: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        if not torch.is_tensor(x):
            if len(x) != 1:
                raise ValueError(f"SETRUpHead takes one feature map, got {len(x)}")
            x = x[0]
        if self.norm is not None:
            x = channel_layer_norm(x, self.norm)
        n = len(self.convs)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if self.up_scale > 1 and i < n - 1:
                x = self._up(x)
        x = self.cls(self.dropout(x))
        if self.up_scale > 1 and n > 0:  # last upsampling after the (linear) classifier
            x = self._up(x)
        return x


class SETRMLANeck(nn.Module):
    """MLA neck: per-stream LN + 1x1 conv, top-down addition, 3x3 conv (Sec. 3.3, Fig. 1c).

    Shapes: list of M maps (B, in_channels[i], h, w) -> tuple of M maps (B, out_channels, h, w).
    """

    def __init__(self, in_channels: Sequence[int] = (1024,) * 4, out_channels: int = 256, norm: str = "BN"):
        super().__init__()
        self.in_channels = list(in_channels)
        self.norms = nn.ModuleList([nn.LayerNorm(c, eps=1e-6) for c in self.in_channels])
        self.channel_proj = nn.ModuleList([ConvBNReLU(c, out_channels, 1, norm) for c in self.in_channels])
        self.feat_extract = nn.ModuleList([ConvBNReLU(out_channels, out_channels, 3, norm) for _ in self.in_channels])
        _init_convs(self)

    def forward(self, inputs: Sequence[torch.Tensor]):
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"SETRMLANeck expects {len(self.in_channels)} maps, got {len(inputs)}")
        projected = [proj(channel_layer_norm(x, ln)) for x, ln, proj in zip(inputs, self.norms, self.channel_proj)]
        # top-down: m_M = p_M, m_i = m_{i+1} + p_i (deepest first), as the paper and mmseg
        mids, acc = [], None
        for p in reversed(projected):
            acc = p if acc is None else acc + p
            mids.append(acc)
        # mmseg pairs feat_extract[j] with the j-th aggregated map counted from the deepest
        return tuple(conv(m) for m, conv in zip(mids, self.feat_extract))


class SETRMLAHead(nn.Module):
    """MLA head: per stream 2 x (3x3 conv + BN + ReLU), concat, classify, 4x upsampling.

    ``self.decoder`` is ``'mla'`` (the :data:`SETR_DECODERS` key of the decoder it belongs to, as
    :class:`SETRUpHead` has it).

    Shapes: M maps (B, in_channels, h, w) -> (B, num_classes, 4h, 4w).
    """

    def __init__(
        self,
        in_channels: int = 256,
        mla_channels: int = 128,
        num_classes: int = 150,
        num_streams: int = 4,
        up_scale: int = 4,
        norm: str = "BN",
        dropout: float = 0.0,
        align_corners: bool = False,
    ):
        super().__init__()
        self.decoder = "mla"
        self.up_scale, self.align_corners = up_scale, align_corners
        self.streams = nn.ModuleList(
            [
                nn.Sequential(
                    ConvBNReLU(in_channels, mla_channels, 3, norm), ConvBNReLU(mla_channels, mla_channels, 3, norm)
                )
                for _ in range(num_streams)
            ]
        )
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.cls = nn.Conv2d(num_streams * mla_channels, num_classes, 1)
        _init_convs(self)
        if not self.cls.weight.is_meta:
            nn.init.normal_(self.cls.weight, std=0.01)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != len(self.streams):
            raise ValueError(f"SETRMLAHead expects {len(self.streams)} maps, got {len(inputs)}")
        x = torch.cat([s(x) for s, x in zip(self.streams, inputs)], dim=1)
        x = self.cls(self.dropout(x))  # == concat(up(s_i)) then classify; see module docstring
        return upsample_bilinear(x, scale_factor=self.up_scale, align_corners=self.align_corners)


class SETRDecoder(nn.Module):
    """A SETR decoder as :data:`SETR_DECODERS` specifies it: (MLA neck +) decode head + auxiliary heads.

    Args:
        decoder: ``'naive'``, ``'pup'`` or ``'mla'``.
        in_channels: encoder width C (1024 for ViT-L).
        num_classes: output classes.
        channels: decoder width (256 in the official ADE20K configs; MLA: neck width, with
            ``channels // 2`` per head stream).
        num_aux: auxiliary heads (``None``: the paper's, ``len(spec.aux_layers)``; 0: none).
        norm: ``'BN'`` / ``'SyncBN'`` / ``'GN'`` (:mod:`segclassics.models.norm`).

    ``forward(inputs, aux_inputs=(), with_aux=False)``: ``inputs`` are the maps the decoder reads
    (Naive/PUP: one ``(B, C, h, w)``, MLA: four), ``aux_inputs`` one map per auxiliary head
    (Naive/PUP; MLA's read the neck). Returns ``(logits, aux_logits)``: logits
    ``(B, num_classes, h * upsampling, w * upsampling)`` and, with ``with_aux``, one logit map per
    auxiliary head (at its own stride), else ``[]``.
    """

    def __init__(
        self,
        decoder: str,
        in_channels: int,
        num_classes: int,
        channels: int = 256,
        num_aux: Optional[int] = None,
        norm: str = "BN",
    ):
        super().__init__()
        spec = _spec(decoder)
        self.decoder, self.spec = decoder, spec
        num_aux = len(spec.aux_layers) if num_aux is None else num_aux
        if decoder == "mla":
            self.neck = SETRMLANeck([in_channels] * len(spec.out_layers), channels, norm)
            self.decode_head = SETRMLAHead(
                channels, channels // 2, num_classes, len(spec.out_layers), up_scale=spec.upsampling, norm=norm
            )
            aux_in = channels
        else:
            self.neck = None
            self.decode_head = SETRUpHead(in_channels, channels, num_classes, norm=norm, decoder=decoder, **spec.head)
            aux_in = in_channels
        self.aux_heads = nn.ModuleList(
            [
                SETRUpHead(aux_in, channels, num_classes, norm=norm, decoder=decoder, **spec.aux_head)
                for _ in range(num_aux)
            ]
        )

    @property
    def num_inputs(self) -> int:
        return len(self.spec.out_layers) if self.neck is not None else 1

    def forward(self, inputs: Sequence[torch.Tensor], aux_inputs: Sequence[torch.Tensor] = (), with_aux: bool = False):
        if len(inputs) != self.num_inputs:
            raise ValueError(f"SETR-{self.decoder} reads {self.num_inputs} maps, got {len(inputs)}")
        if self.neck is not None:
            inputs = self.neck(list(inputs))
            logits = self.decode_head(inputs)
            aux_inputs = inputs  # MLA: auxiliary classifiers on the neck outputs
        else:
            logits = self.decode_head(inputs[0])
        if not with_aux or not len(self.aux_heads):
            return logits, []
        if len(aux_inputs) != len(self.aux_heads):
            raise ValueError(
                f"SETR-{self.decoder} has {len(self.aux_heads)} auxiliary heads, got {len(aux_inputs)} maps for them"
            )
        return logits, [head(x) for head, x in zip(self.aux_heads, aux_inputs)]


class SETR(SETRDecoder):
    """Encoder + :class:`SETRDecoder`, for framework-free use and benchmarks.

    ``forward(img)`` returns logits (B, num_classes, H, W) at the input size; in training mode
    it returns ``(logits, [aux_logits...])`` with every output resized to the input.
    ``decode_in`` / ``aux_in`` index into the backbone outputs (MLA's auxiliary heads read the
    neck, ``aux_in`` is empty). Other arguments: :class:`SETRDecoder`.
    """

    def __init__(
        self,
        backbone: VisionTransformer,
        decoder: str,
        num_classes: int,
        decode_in: Sequence[int],
        aux_in: Sequence[int] = (),
        channels: int = 256,
        num_aux: Optional[int] = None,
        norm: str = "BN",
    ):
        super().__init__(decoder, backbone.embed_dim, num_classes, channels, num_aux, norm)
        self.backbone = backbone
        self.decode_in, self.aux_in = list(decode_in), list(aux_in)

    def forward(self, img: torch.Tensor):
        feats = self.backbone(img)
        with_aux = self.training and len(self.aux_heads) > 0
        out, aux = super().forward([feats[i] for i in self.decode_in], [feats[i] for i in self.aux_in], with_aux)
        size = img.shape[-2:]

        def up(t):
            return upsample_bilinear(t, size=size, align_corners=False)

        if not self.training:
            return up(out)
        return up(out), [up(a) for a in aux]


def build_setr(
    decoder: str = "pup",
    vit: str = "vit_large_patch16",
    num_classes: int = 150,
    img_size=512,
    channels: int = 256,
    with_aux: bool = True,
    norm: str = "BN",
    vit_kwargs: Optional[Dict] = None,
) -> SETR:
    """SETR-{Naive, PUP, MLA} as in the official ADE20K configs (paper Sec. 3.3 and 4).

    The transformer layers used follow :data:`SETR_DECODERS`, scaled to the encoder depth
    (:func:`setr_layer_indices`) for encoders other than ViT-L.
    """
    decoder = decoder.lower()
    spec = _spec(decoder)
    if vit not in VIT_PRESETS:
        raise ValueError(f"vit must be one of {sorted(VIT_PRESETS)}, got {vit!r}")
    cfg = {**VIT_PRESETS[vit], **(vit_kwargs or {})}
    main_idx = setr_layer_indices(spec.out_layers, cfg["depth"])
    aux_idx = setr_layer_indices(spec.aux_layers, cfg["depth"]) if with_aux else []
    encoder_aux = [] if spec.aux_on_neck else aux_idx
    out_indices = sorted(set(main_idx) | set(encoder_aux))
    backbone = VisionTransformer(img_size=img_size, out_indices=out_indices, **cfg)
    pos = {layer: j for j, layer in enumerate(out_indices)}
    return SETR(
        backbone,
        decoder,
        num_classes,
        [pos[i] for i in main_idx],
        [pos[i] for i in encoder_aux],
        channels=channels,
        num_aux=len(aux_idx),
        norm=norm,
    )
