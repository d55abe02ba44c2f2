"""FCN-32s / FCN-16s / FCN-8s (Long, Shelhamer & Darrell, "Fully Convolutional Networks for
Semantic Segmentation", CVPR 2015, Sec. 4.2 and Fig. 3; PAMI 2017 "at-once" training).

Plain torch; no framework import. The decoder takes VGG16 features ``pool3`` (stride 8),
``pool4`` (stride 16) and ``fc7`` (stride 32, see :mod:`segclassics.models.vgg`) and:

1. scores each with a 1x1 convolution (``score_fr``, ``score_pool4``, ``score_pool3``),
   zero-initialised (Sec. 4.1 "we initialize ... to zero"; skip scores "zero-initialized so
   that the net starts with unmodified predictions", Sec. 4.2);
2. in the *at-once* variant (PAMI Sec. 4.2; reference ``voc-fcn8s-atonce``) first scales
   ``pool4`` by 0.01 and ``pool3`` by 0.0001 (fixed factors);
3. upsamples 2x with transposed convolutions (kernel 4, stride 2, no bias) initialised to
   bilinear interpolation and learned (CVPR Sec. 4.2: "we initialize this 2x upsampling to
   bilinear interpolation, but allow the parameters to be learned"), fuses by summation, and
   upsamples the final score by 32/16/8 with a transposed convolution *fixed* to bilinear
   interpolation ("the final layer deconvolutional filters are fixed to bilinear
   interpolation, while intermediate upsampling layers are initialized to bilinear
   upsampling, and then learned", CVPR Sec. 4.3). The released reference nets
   (voc-fcn16s/8s/8s-atonce ``net.py``) fix the 2x layers too (``lr_mult: 0``):
   ``learn_intermediate_upsample=False``.

Alignment. ``mode='caffe'`` (default, paper-faithful) reproduces the reference Caffe nets:
``conv1_1`` padded by 100, ``fc6`` unpadded, transposed convolutions unpadded, and ``Crop``
layers whose offsets follow from the layers' coordinate maps -- 19 (FCN-32s output),
5 (``score_pool4``) and 27 (FCN-16s output), 9 (``score_pool3``) and 31 (FCN-8s output)
for ``conv1_1`` padding 100. :func:`fcn_crop_offsets` computes them from the geometry, so any
``conv1_1_padding`` works. ``mode='padded'`` is the no-offset alternative: ``conv1_1``
padding 1, ``fc6`` padding 3, transposed convolutions padded by ``f/2``; every map is then
already aligned at the top-left and only the surplus rows/columns at the bottom/right
(from ceil-mode pooling) are trimmed. In both modes the output is exactly ``(N, K, H, W)``
for any input ``H, W >= 1`` and pixel ``(y, x)`` of the output is centred on input pixel
``(y, x)``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .vgg import VGG16, vgg16_feature_size

VARIANTS = {"32s": 32, "16s": 16, "8s": 8}
MODES = ("caffe", "padded")
#: Backbone geometry each mode expects: (conv1_1 padding, fc6 padding).
MODE_GEOMETRY = {"caffe": (100, 0), "padded": (1, 3)}
#: At-once skip scaling (reference voc-fcn8s-atonce/net.py: scale_pool4 0.01, scale_pool3 0.0001).
AT_ONCE_SCALES = {"pool4": 0.01, "pool3": 0.0001}


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Bilinear-interpolation weights for ``ConvTranspose2d(channels, channels, kernel_size)``.

    The reference ``surgery.upsample_filt``: ``factor = (k + 1) // 2``, centre ``factor - 1``
    (odd k) or ``factor - 0.5`` (even k), weight ``(1 - |i - c| / factor) * (1 - |j - c| / factor)``
    on the diagonal (channel c -> channel c), zero elsewhere. Shape ``(C, C, k, k)``.
    """
    if channels <= 0 or kernel_size <= 0:
        raise ValueError(f"channels and kernel_size must be positive, got {channels}, {kernel_size}")
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float64)
    filt1d = 1 - (og - center).abs() / factor
    filt = (filt1d[:, None] * filt1d[None, :]).float()
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = filt
    return weight


def _conv1_offset(conv1_1_padding: int) -> Fraction:
    # conv1_1 (3x3, stride 1, padding p): output u is centred on input u - p + 1.
    return Fraction(1 - conv1_1_padding)


def feature_offsets(conv1_1_padding: int, fc6_padding: int) -> Dict[str, Tuple[int, Fraction]]:
    """``{name: (stride, offset)}``: index ``i`` of feature ``name`` is centred on input
    coordinate ``stride * i + offset`` (VGG16 convs keep the coordinate; a 2x2/2 pool maps
    ``i`` to ``2i + 1/2``; the 7x7 ``fc6`` maps ``i`` to ``i + 3 - fc6_padding``)."""
    out: Dict[str, Tuple[int, Fraction]] = {}
    off = _conv1_offset(conv1_1_padding)
    for k in range(1, 6):
        off = off + Fraction(2 ** (k - 1), 2)  # pool k: stride 2^(k-1) -> 2^k, centre 2i + 1/2
        out[f"pool{k}"] = (2**k, off)
    out["fc7"] = (32, off + 32 * (3 - fc6_padding))
    return out


def _upsampled(stride: int, offset: Fraction, factor: int, padding: int) -> Tuple[int, Fraction]:
    # ConvTranspose2d(kernel 2f, stride f, padding p): output t is centred on input index
    # (t + p - (2f - 1) / 2) / f.
    return stride // factor, offset + Fraction(stride, factor) * (padding - Fraction(2 * factor - 1, 2))


def fcn_crop_offsets(
    variant: str = "8s", mode: str = "caffe", conv1_1_padding: Optional[int] = None, fc6_padding: Optional[int] = None
) -> Dict[str, int]:
    """Crop offsets of the reference nets, derived from the coordinate maps.

    Returns ``{'score_pool4': c4, 'score_pool3': c3, 'output': c}`` (only the keys the
    variant uses): ``score_pool4c = score_pool4[..., c4:c4 + h, c4:c4 + w]`` matches the 2x
    upsampled coarser score, ``output = upscore[..., c:c + H, c:c + W]``. For
    ``mode='caffe'`` with ``conv1_1_padding=100``: 32s ``{'output': 19}``, 16s ``{5, 27}``,
    8s ``{5, 9, 31}``; ``mode='padded'`` gives zeros.
    """
    factor, mode, p1, p6 = _check(variant, mode, conv1_1_padding, fc6_padding)
    up_pad = _up_padding(mode)
    feats = feature_offsets(p1, p6)
    stride, off = feats["fc7"]
    offsets: Dict[str, int] = {}
    skips = {"32s": [], "16s": ["pool4"], "8s": ["pool4", "pool3"]}[variant]
    for skip in skips:
        stride, off = _upsampled(stride, off, 2, up_pad(2))
        s_skip, o_skip = feats[skip]
        assert s_skip == stride
        offsets["score_" + skip] = _as_int((off - o_skip) / stride, "score_" + skip)
    stride, off = _upsampled(stride, off, stride, up_pad(stride))
    offsets["output"] = _as_int(-off, "output")
    return offsets


def _as_int(x: Fraction, what: str) -> int:
    if x.denominator != 1:
        raise ValueError(
            f"crop offset of {what} is {float(x)}, not an integer: this backbone geometry cannot be aligned by cropping"
        )
    if x < 0:
        raise ValueError(f"crop offset of {what} is negative ({x}): increase conv1_1_padding")
    return int(x)


def _up_padding(mode: str):
    return (lambda f: 0) if mode == "caffe" else (lambda f: f // 2)


def _check(variant, mode, conv1_1_padding, fc6_padding):
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    p1, p6 = MODE_GEOMETRY[mode]
    p1 = p1 if conv1_1_padding is None else conv1_1_padding
    p6 = p6 if fc6_padding is None else fc6_padding
    return VARIANTS[variant], mode, p1, p6


def _crop(x: torch.Tensor, offset: int, size: Sequence[int], what: str) -> torch.Tensor:
    h, w = size[0], size[1]  # no int(): torch.export's symbolic sizes must stay symbolic
    if x.shape[-2] < offset + h or x.shape[-1] < offset + w:
        raise ValueError(
            f"{what}: map of size {tuple(x.shape[-2:])} cannot be cropped at offset {offset} to "
            f"{(h, w)}; the features do not come from the VGG16 geometry this head expects"
        )
    return x[..., offset : offset + h, offset : offset + w]


class FCNDecoder(nn.Module):
    """FCN score/upsample/fuse decoder (CVPR 2015 Fig. 3).

    Args:
        num_classes: number of classes K (21 for PASCAL VOC).
        variant: ``'32s'``, ``'16s'`` or ``'8s'``.
        in_channels: channels of the consumed features, increasing stride:
            32s ``(fc7,)``, 16s ``(pool4, fc7)``, 8s ``(pool3, pool4, fc7)``; VGG16:
            ``(256, 512, 4096)`` / ``(512, 4096)`` / ``(4096,)``. A 3-tuple is accepted for
            every variant (the unused leading entries are ignored).
        mode: ``'caffe'`` (reference crops) or ``'padded'`` (no offsets); see module docstring.
        at_once: scale pool4 by 0.01 and pool3 by 0.0001 before scoring (PAMI at-once training).
        skip_scales: explicit ``{'pool4': s4, 'pool3': s3}`` overriding ``at_once``.
        learn_final_upsample: the final upsampling is fixed to bilinear in the paper
            (``False``); ``True`` lets it learn.
        learn_intermediate_upsample: learn the 2x upsamplings (paper text, ``True``) or keep
            them bilinear (released reference nets, ``False``).
        conv1_1_padding, fc6_padding: the backbone's geometry; default from ``mode``
            (caffe: 100, 0; padded: 1, 3). Used to compute the crop offsets and checked
            against the feature sizes at run time.

    Inputs: ``forward(feats, img_size)`` with ``feats`` as ``in_channels`` describes and
    ``img_size = (H, W)`` of the network input. Output: logits ``(N, K, H, W)``.
    """

    def __init__(
        self,
        num_classes: int,
        variant: str = "8s",
        in_channels: Sequence[int] = (256, 512, 4096),
        *,
        mode: str = "caffe",
        at_once: bool = False,
        skip_scales: Optional[Dict[str, float]] = None,
        learn_final_upsample: bool = False,
        learn_intermediate_upsample: bool = True,
        conv1_1_padding: Optional[int] = None,
        fc6_padding: Optional[int] = None,
        ceil_mode: bool = True,
    ):
        super().__init__()
        if num_classes <= 0:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        factor, mode, p1, p6 = _check(variant, mode, conv1_1_padding, fc6_padding)
        self.variant, self.mode, self.factor = variant, mode, factor
        self.num_classes = num_classes
        self.conv1_1_padding, self.fc6_padding, self.ceil_mode = p1, p6, ceil_mode
        self.skips: List[str] = {"32s": [], "16s": ["pool4"], "8s": ["pool4", "pool3"]}[variant]
        n_in = 1 + len(self.skips)
        in_channels = [int(c) for c in in_channels]
        if len(in_channels) < n_in:
            raise ValueError(
                f"FCN-{variant} consumes {n_in} features "
                f"({', '.join(['pool3', 'pool4', 'fc7'][3 - n_in :])}); in_channels={in_channels}"
            )
        self.in_channels = in_channels[-n_in:]
        self.n_in = n_in
        if skip_scales is None:
            skip_scales = dict(AT_ONCE_SCALES) if at_once else {}
        unknown = set(skip_scales) - set(AT_ONCE_SCALES)
        if unknown:
            raise ValueError(f"skip_scales keys must be in {sorted(AT_ONCE_SCALES)}, got {sorted(unknown)}")
        self.skip_scales = {k: float(v) for k, v in skip_scales.items() if k in self.skips}
        self.offsets = fcn_crop_offsets(variant, mode, p1, p6)
        self.feature_offsets = feature_offsets(p1, p6)
        up_pad = _up_padding(mode)

        k = num_classes
        self.score_fr = nn.Conv2d(self.in_channels[-1], k, 1)
        channels = dict(zip(["pool3", "pool4"][2 - len(self.skips) :], self.in_channels[:-1]))
        for skip in self.skips:
            self.add_module("score_" + skip, nn.Conv2d(channels[skip], k, 1))
        # 2x upsamplings (learned), named as in the reference nets.
        self.up_names = {"pool4": "upscore2", "pool3": "upscore_pool4"}
        for skip in self.skips:
            self.add_module(self.up_names[skip], nn.ConvTranspose2d(k, k, 4, stride=2, padding=up_pad(2), bias=False))
        final = 32 // 2 ** len(self.skips)
        self.final_name = {32: "upscore", 16: "upscore16", 8: "upscore8"}[final]
        self.final_factor = final
        self.add_module(
            self.final_name, nn.ConvTranspose2d(k, k, 2 * final, stride=final, padding=up_pad(final), bias=False)
        )
        self.learn_final_upsample = learn_final_upsample
        self.learn_intermediate_upsample = learn_intermediate_upsample
        self.init_weights()

    def init_weights(self) -> None:
        """Zero score layers, bilinear transposed convolutions (reference ``surgery.interp``)."""
        for m in [self.score_fr] + [getattr(self, "score_" + s) for s in self.skips]:
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        for name in [self.up_names[s] for s in self.skips] + [self.final_name]:
            m = getattr(self, name)
            with torch.no_grad():
                m.weight.copy_(bilinear_kernel(self.num_classes, m.kernel_size[0]))
        getattr(self, self.final_name).weight.requires_grad_(self.learn_final_upsample)
        for s in self.skips:
            getattr(self, self.up_names[s]).weight.requires_grad_(self.learn_intermediate_upsample)

    def expected_size(self, name: str, size: int) -> int:
        """Size (one axis) of backbone feature ``name`` for input side ``size`` (ceil-mode pools)."""
        return vgg16_feature_size(name, size, self.conv1_1_padding, self.fc6_padding, self.ceil_mode)

    def largest_input_size(self, name: str, feat_size: int) -> int:
        """Largest input side whose feature ``name`` has ``feat_size`` cells (inverse of
        :meth:`expected_size`; pools round up, so several input sizes share one feature size)."""
        stride = {"pool3": 8, "pool4": 16, "fc7": 32}[name]
        n = feat_size if name != "fc7" else feat_size + 6 - 2 * self.fc6_padding
        if not self.ceil_mode:
            return stride * n + stride - 1 - 2 * self.conv1_1_padding + 2
        return stride * n - 2 * self.conv1_1_padding + 2

    def forward(self, feats: Sequence[torch.Tensor], img_size: Optional[Sequence[int]] = None) -> torch.Tensor:
        """Logits ``(N, K, H, W)`` for the input size ``img_size = (H, W)``.

        Without ``img_size`` (e.g. mmseg's ``tensor`` mode, detectron2 inference) the output
        covers the largest input consistent with the finest feature: it is aligned at the
        top-left with the true input and has at most ``stride - 1`` extra rows/columns
        (stride 8/16/32 of the finest feature) at the bottom/right; crop ``[:H, :W]``.
        """
        feats = list(feats)
        if len(feats) < self.n_in:
            raise ValueError(f"FCN-{self.variant} needs {self.n_in} features, got {len(feats)}")
        feats = feats[-self.n_in :]
        names = ["pool3", "pool4", "fc7"][3 - self.n_in :]
        if img_size is None:
            img_size = (
                self.largest_input_size(names[0], feats[0].shape[-2]),
                self.largest_input_size(names[0], feats[0].shape[-1]),
            )
        h, w = img_size[0], img_size[1]  # ints, or symbolic sizes while torch.export traces
        for name, f in zip(names, feats):
            exp = (self.expected_size(name, h), self.expected_size(name, w))
            if tuple(f.shape[-2:]) != exp:
                raise ValueError(
                    f"FCN-{self.variant} ({self.mode}): {name} is {tuple(f.shape[-2:])} for a {h}x{w} input, "
                    f"expected {exp} from VGG16 with conv1_1_padding={self.conv1_1_padding}, "
                    f"fc6_padding={self.fc6_padding}, ceil_mode={self.ceil_mode}; build the backbone with "
                    f"that geometry (mode={self.mode!r})"
                )
        by_name = dict(zip(names, feats))
        score = self.score_fr(by_name["fc7"])
        for skip in self.skips:
            up = getattr(self, self.up_names[skip])(score)
            x = by_name[skip]
            if skip in self.skip_scales:
                x = x * self.skip_scales[skip]
            s = getattr(self, "score_" + skip)(x)
            if self.mode == "caffe":
                s = _crop(s, self.offsets["score_" + skip], up.shape[-2:], "score_" + skip)
            else:  # aligned at the top-left; trim the surplus of the upsampled map
                up = _crop(up, 0, s.shape[-2:], self.up_names[skip])
            score = up + s
        out = getattr(self, self.final_name)(score)
        return _crop(out, self.offsets["output"], (h, w), "output")


class FCN(nn.Module):
    """Whole FCN: ``VGG16`` (convolutionized) + :class:`FCNDecoder`. ``forward(img) -> (N, K, H, W)``.

    Args:
        num_classes, variant, mode, at_once, learn_final_upsample, learn_intermediate_upsample:
            see :class:`FCNDecoder`.
        norm, widths, fc_channels, dropout: see :class:`segclassics.models.vgg.VGG16`
            (``widths``/``fc_channels`` smaller than VGG16's only for quick tests).
    """

    def __init__(
        self,
        num_classes: int = 21,
        variant: str = "8s",
        *,
        mode: str = "caffe",
        at_once: bool = False,
        learn_final_upsample: bool = False,
        learn_intermediate_upsample: bool = True,
        norm: Optional[str] = None,
        widths: Optional[Sequence[int]] = None,
        fc_channels: int = 4096,
        dropout: float = 0.5,
        in_channels: int = 3,
    ):
        super().__init__()
        _, _, p1, p6 = _check(variant, mode, None, None)
        outs = {"32s": ("fc7",), "16s": ("pool4", "fc7"), "8s": ("pool3", "pool4", "fc7")}[variant]
        self.backbone = VGG16(
            in_channels,
            norm=norm,
            with_fc=True,
            out_indices=outs,
            conv1_1_padding=p1,
            fc6_padding=p6,
            ceil_mode=True,
            dropout=dropout,
            widths=widths,
            fc_channels=fc_channels,
        )
        self.decoder = FCNDecoder(
            num_classes,
            variant,
            [self.backbone.channels[n] for n in outs],
            mode=mode,
            at_once=at_once,
            learn_final_upsample=learn_final_upsample,
            learn_intermediate_upsample=learn_intermediate_upsample,
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.backbone(img), img.shape[-2:])


def count_parameters(module: nn.Module) -> int:
    """All parameters, trainable or fixed (the paper's fixed bilinear filters included)."""
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "FCN",
    "FCNDecoder",
    "bilinear_kernel",
    "fcn_crop_offsets",
    "feature_offsets",
    "count_parameters",
    "VARIANTS",
    "MODES",
    "MODE_GEOMETRY",
    "AT_ONCE_SCALES",
]
