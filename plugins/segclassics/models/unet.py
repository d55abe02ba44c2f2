"""U-Net as in Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical
Image Segmentation", MICCAI 2015 (arXiv:1505.04597). Plain torch, no framework import.

Paper, Sec. 2 (Fig. 1): a contracting path of repeated *unpadded* 3x3 convolutions + ReLU,
2x2 max pooling with stride 2 and doubling of the channels (64, 128, 256, 512, 1024); an
expansive path of 2x2 "up-convolutions" halving the channels, concatenation with the
*cropped* feature map of the contracting path, two 3x3 convolutions + ReLU; a final 1x1
convolution to the classes. 23 convolutional layers; 572x572 input -> 388x388 output.

``padding='same'`` pads every 3x3 convolution by 1 (the common variant, as in mmseg's UNet):
the output has the input size and the input must be divisible by ``2 ** (depth - 1)``.

Sec. 3: weights drawn from a Gaussian with std ``sqrt(2 / N)``, N the number of incoming nodes
of a neuron (``3*3*C_in`` for a 3x3 conv) -- :func:`init_unet_weights`. Drop-out at the end of
the contracting path (``dropout``).

The network is split into :class:`UNetEncoder` (a backbone returning the ``depth`` feature
maps, finest first) and :class:`UNetDecoder` (a head consuming them), so that frameworks can
register them as backbone + head; :class:`UNet` composes both.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .norm import build_norm, check_norm
from .size import Size, pair

_PADDINGS = ("valid", "same")


# ----------------------------------------------------------------------------------------------
# argument checks and size arithmetic
# ----------------------------------------------------------------------------------------------
def _check_arch(depth: int, padding: str, norm=None, base_channels: int = 64) -> None:
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"UNet depth must be an int >= 1 (levels incl. the bottleneck; paper: 5), got {depth!r}")
    if padding not in _PADDINGS:
        raise ValueError(
            f"UNet padding must be one of {_PADDINGS} ('valid' = paper, unpadded 3x3 convs), got {padding!r}"
        )
    check_norm(norm, "UNet norm (None = paper)")
    if not isinstance(base_channels, int) or base_channels < 1:
        raise ValueError(f"UNet base_channels must be a positive int (paper: 64), got {base_channels!r}")


def _output_size_1d(size: int, depth: int, padding: str) -> Optional[int]:
    """Output length along one axis, or None when ``size`` is not accepted."""
    if padding == "same":
        return size if size >= 1 and size % (2 ** (depth - 1)) == 0 else None
    s = size
    for _ in range(depth - 1):
        s -= 4  # two unpadded 3x3 convs
        if s < 2 or s % 2:  # 2x2 max pool needs an even size (paper Sec. 2)
            return None
        s //= 2
    s -= 4  # bottleneck convs
    if s < 1:
        return None
    for _ in range(depth - 1):
        s = 2 * s - 4  # up-conv doubles, two unpadded convs remove 4
        if s < 1:
            return None
    return s


def _nearest_valid_1d(size: int, depth: int, padding: str, count: int = 2) -> List[int]:
    valid = unet_valid_sizes(depth=depth, padding=padding, max_size=max(2 * size, size + 4 * 2**depth) + 8)
    valid = sorted(valid, key=lambda v: (abs(v - size), v))
    return sorted(valid[:count])


def unet_valid_sizes(depth: int = 5, padding: str = "valid", max_size: int = 1024, min_size: int = 1) -> List[int]:
    """All input lengths in ``[min_size, max_size]`` a UNet of ``depth`` levels accepts.

    Paper net (``depth=5``, ``'valid'``): ``124 + 16 k`` for ``k >= 4``, i.e. 188, 204, ..., 572, ...
    ``'same'``: multiples of ``2 ** (depth - 1)``.
    """
    _check_arch(depth, padding)
    return [s for s in range(max(1, min_size), max_size + 1) if _output_size_1d(s, depth, padding) is not None]


def unet_output_size(input_size: Size, depth: int = 5, padding: str = "valid") -> Tuple[int, int]:
    """Output ``(H, W)`` of a UNet for an input ``(H, W)`` (or an int for square inputs).

    Raises ``ValueError`` naming the nearest valid sizes when the input is not accepted.
    Example: ``unet_output_size(572) == (388, 388)`` (paper Fig. 1).
    """
    _check_arch(depth, padding)
    out = []
    for axis, s in zip(("height", "width"), pair(input_size, "input_size")):
        o = _output_size_1d(s, depth, padding)
        if o is None:
            near = _nearest_valid_1d(s, depth, padding)
            rule = (
                f"an even size before every 2x2 max pool after the two unpadded 3x3 convs, i.e. {_valid_rule(depth)}"
                if padding == "valid"
                else f"a multiple of {2 ** (depth - 1)}"
            )
            raise ValueError(
                f"input {axis} {s} is not valid for a UNet with depth={depth}, padding={padding!r}: it needs "
                f"{rule}. Nearest valid sizes: {near}. Pad or crop the input, or use overlap-tile inference "
                f"(segclassics.models.overlap_tile) which accepts any size."
            )
        out.append(o)
    return tuple(out)


def _valid_rule(depth: int) -> str:
    k = 2 ** (depth - 1)
    sizes = unet_valid_sizes(depth, "valid", max_size=4096)
    if not sizes:
        return "(no valid size below 4096)"
    return f"{sizes[0]} + {k}*n (n >= 0)"


def unet_input_size_for_output(output_size: Size, depth: int = 5, padding: str = "valid") -> Tuple[int, int]:
    """Smallest valid input ``(H, W)`` whose output is at least ``output_size`` (per axis)."""
    _check_arch(depth, padding)
    res = []
    for o in pair(output_size, "output_size"):
        s = max(1, o)
        while _output_size_1d(s, depth, padding) is None or _output_size_1d(s, depth, padding) < o:
            s += 1
        res.append(s)
    return tuple(res)


def unet_border(depth: int = 5, padding: str = "valid") -> int:
    """Pixels the network loses on each side: ``(input - output) / 2`` (paper: (572 - 388) / 2 = 92)."""
    _check_arch(depth, padding)
    if padding == "same":
        return 0
    s = unet_valid_sizes(depth, "valid", max_size=4096)[0]
    return (s - _output_size_1d(s, depth, "valid")) // 2


def center_crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Centre-crop the last two dims of ``x`` to ``size`` (paper: "cropping is necessary due to the
    loss of border pixels in every convolution")."""
    h, w = x.shape[-2:]
    th, tw = size[0], size[1]  # no int(): torch.export's symbolic sizes must stay symbolic
    if th > h or tw > w:
        raise ValueError(f"cannot centre-crop {(h, w)} to larger {(th, tw)}")
    top, left = (h - th) // 2, (w - tw) // 2
    return x[..., top : top + th, left : left + tw]


def crop_labels_or_resize_logits(
    logits: torch.Tensor, labels: torch.Tensor, weights: Optional[torch.Tensor] = None, align_corners: bool = False
):
    """Put a UNet's logits and its labels on one grid for the loss (the rule of every adapter).

    Labels at least as large as the logits are centre-cropped to them, with their per-pixel
    ``weights``: a valid net's output tile is the centre of its input tile (paper Fig. 2), so
    resizing would misalign every pixel. Smaller labels (a 'same' net on a batch whose labels
    were not padded) get bilinearly resized logits instead.

    Shapes: ``logits (N, K, h, w)``; ``labels`` and ``weights`` ``(..., H, W)``. Returns
    ``(logits, labels, weights)`` on the common grid (``weights`` stays ``None`` if not given).
    """
    h, w = logits.shape[-2:]
    if labels.shape[-2] >= h and labels.shape[-1] >= w:
        return logits, center_crop(labels, (h, w)), None if weights is None else center_crop(weights, (h, w))
    logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=align_corners)
    return logits, labels, weights


# ----------------------------------------------------------------------------------------------
# modules
# ----------------------------------------------------------------------------------------------
class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions, each followed by (optional batch norm and) ReLU (paper Sec. 2)."""

    def __init__(self, in_channels: int, out_channels: int, padding: str = "valid", norm: Optional[str] = None):
        pad = 1 if padding == "same" else 0
        layers: List[nn.Module] = []
        for cin in (in_channels, out_channels):
            layers.append(nn.Conv2d(cin, out_channels, 3, padding=pad, bias=norm is None))
            if norm is not None:
                layers.append(build_norm(norm, out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def unet_channels(base_channels: int = 64, depth: int = 5) -> List[int]:
    """Channels per level, finest first: ``base * 2**i`` (paper: 64, 128, 256, 512, 1024)."""
    return [base_channels * 2**i for i in range(depth)]


class UNetEncoder(nn.Module):
    """Contracting path (paper Sec. 2, left half of Fig. 1).

    Input ``(N, in_channels, H, W)``; output a list of ``depth`` maps, finest first: level ``i``
    has ``base_channels * 2**i`` channels (for ``'same'``: spatial size ``H / 2**i``); the last
    is the bottleneck. Drop-out (``dropout > 0``) is applied to the bottleneck output ("drop-out
    layers at the end of the contracting path", Sec. 3.1).
    """

    def __init__(
        self,
        in_channels: int = 1,
        base_channels: int = 64,
        depth: int = 5,
        padding: str = "valid",
        norm: Optional[str] = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        _check_arch(depth, padding, norm, base_channels)
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int (1 for grey EM, 3 for RGB), got {in_channels!r}")
        self.in_channels, self.depth, self.padding, self.norm = in_channels, depth, padding, norm
        self.channels = unet_channels(base_channels, depth)
        cins = [in_channels] + self.channels[:-1]
        self.blocks = nn.ModuleList(DoubleConv(ci, co, padding, norm) for ci, co in zip(cins, self.channels))
        self.pool = nn.MaxPool2d(2, 2)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet expects (N, {self.in_channels}, H, W) input, got shape {tuple(x.shape)}")
        if not torch.compiler.is_exporting():  # symbolic sizes; segclassics.deploy checks the same rule
            unet_output_size(tuple(x.shape[-2:]), self.depth, self.padding)  # raises with the nearest valid sizes

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        self.check_input(x)
        feats = []
        for i, block in enumerate(self.blocks):
            if i:
                x = self.pool(x)
            x = block(x)
            feats.append(x)
        feats[-1] = self.dropout(feats[-1])
        return feats


class UNetDecoder(nn.Module):
    """Expansive path + 1x1 classifier (paper Sec. 2, right half of Fig. 1).

    Input: the encoder's list of ``depth`` maps, finest first. Each step: 2x2 up-convolution
    (``ConvTranspose2d``, stride 2) halving the channels, concatenation with the centre-cropped
    encoder map of the same level, two 3x3 convs. Output ``(N, num_classes, h, w)``: for
    ``'valid'`` smaller than the input image (see :func:`unet_output_size`), for ``'same'``
    equal to it. ``num_classes=1`` gives one logit per pixel for sigmoid binary segmentation.
    """

    def __init__(
        self,
        num_classes: int = 2,
        base_channels: int = 64,
        depth: int = 5,
        padding: str = "valid",
        norm: Optional[str] = None,
    ):
        super().__init__()
        _check_arch(depth, padding, norm, base_channels)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int (1 = sigmoid binary, 2 = paper), got {num_classes!r}")
        self.num_classes, self.depth, self.padding = num_classes, depth, padding
        self.channels = unet_channels(base_channels, depth)
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for i in reversed(range(depth - 1)):
            c = self.channels[i]
            self.ups.append(nn.ConvTranspose2d(self.channels[i + 1], c, 2, stride=2))
            self.blocks.append(DoubleConv(2 * c, c, padding, norm))
        self.classifier = nn.Conv2d(self.channels[0], num_classes, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(feats) != self.depth:
            raise ValueError(f"UNetDecoder expects {self.depth} feature maps (finest first), got {len(feats)}")
        for i, (c, f) in enumerate(zip(self.channels, feats)):
            if f.shape[1] != c:
                raise ValueError(f"feature {i} has {f.shape[1]} channels, expected {c} (base * 2**{i})")
        x = feats[-1]
        for up, block, skip in zip(self.ups, self.blocks, reversed(feats[:-1])):
            x = up(x)
            if self.padding == "valid":  # 'same': sizes already match (input divisible by 2**(depth-1))
                skip = center_crop(skip, x.shape[-2:])
            x = block(torch.cat([skip, x], dim=1))
        return self.classifier(x)


class UNet(nn.Module):
    """The U-Net of Ronneberger et al. 2015 (Sec. 2), encoder + decoder.

    Args:
        in_channels: image channels (1 for the paper's EM images).
        num_classes: output channels (2 in the paper; 1 for a sigmoid binary output).
        base_channels: channels of the first level (paper 64), doubled per level.
        depth: levels including the bottleneck (paper 5, i.e. 4 poolings).
        padding: ``'valid'`` (paper: unpadded convs, output smaller than input) or ``'same'``.
        norm: ``None`` (paper) or ``'BN'`` / ``'SyncBN'`` / ``'GN'`` after each 3x3 conv
            (:mod:`segclassics.models.norm`).
        dropout: drop-out probability at the end of the contracting path (paper Sec. 3.1 uses
            drop-out there; 0 disables it).

    Shapes: ``(N, in_channels, H, W) -> (N, num_classes, *unet_output_size((H, W)))``;
    paper: ``(1, 1, 572, 572) -> (1, 2, 388, 388)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        base_channels: int = 64,
        depth: int = 5,
        padding: str = "valid",
        norm: Optional[str] = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.encoder = UNetEncoder(in_channels, base_channels, depth, padding, norm, dropout)
        self.decoder = UNetDecoder(num_classes, base_channels, depth, padding, norm)
        self.depth, self.padding = depth, padding
        init_unet_weights(self)

    def output_size(self, input_size: Size) -> Tuple[int, int]:
        return unet_output_size(input_size, self.depth, self.padding)

    @property
    def border(self) -> int:
        return unet_border(self.depth, self.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def init_unet_weights(module: nn.Module) -> None:
    """Paper Sec. 3: Gaussian init with std ``sqrt(2 / N)``, N = incoming nodes of a neuron
    (kernel area x input channels); biases zero, norm layers to identity."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            if isinstance(m, nn.ConvTranspose2d):
                # weight (C_in, C_out, k, k); each output pixel of a stride-2 2x2 up-conv sees C_in inputs
                fan_in = m.weight.shape[0]
            else:
                fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_in))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def check_labels(labels: torch.Tensor, num_classes: int, ignore_index: int = 255) -> None:
    """Raise ``ValueError`` if ``labels`` hold values outside ``[0, num_classes)`` other than
    ``ignore_index`` (for a 1-channel sigmoid output, labels must be 0/1)."""
    valid_max = max(num_classes, 2)
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= valid_max))
    if bool(bad.any()):
        vals = torch.unique(labels[bad])[:10].tolist()
        raise ValueError(
            f"labels contain {vals} outside the classes 0..{valid_max - 1} (ignore_index={ignore_index}). "
            f"Map your label values to class indices first (e.g. 0/255 masks to 0/1 with a threshold)."
        )
