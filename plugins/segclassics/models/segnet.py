"""SegNet and SegNet-Basic (plain torch).

Badrinarayanan, Kendall, Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder Architecture
for Image Segmentation", TPAMI 2017.

* Sec. 3 / Fig. 2-3: the encoder is VGG16's 13 convolutions (each + BN + ReLU) with a 2x2/2
  max-pool after each of the 5 stages; the pools *remember the argmax locations*. Each
  decoder stage upsamples its input with the max-pooling indices memorised by the
  corresponding encoder stage -- a sparse ("bed of nails") map with every
  value placed at its argmax position and zeros elsewhere (nothing learned) -- followed by
  trainable convolutions (+ BN + ReLU) that densify it. The last decoder's output goes to a
  soft-max classifier. The Caffe release (SegNet-Tutorial, ``segnet_train.prototxt``) mirrors
  the encoder: the last conv of decoder stage s outputs the channels of encoder stage s-1, and
  the very last conv (``conv1_1_D``, 3x3) outputs the class scores.
* Sec. 3.1 (decoder variants) "SegNet-Basic": 4 encoders and 4 decoders, 64 channels, 7x7 kernels,
  BN after every convolution, no biases, no ReLU in the decoder, a 1x1 classifier.

Unpooling needs two things from each pool: the indices, and the *pre-pool* spatial size,
because ``max_unpool2d`` cannot know whether a 23-row map came from 45 or 46 rows (SegNet's
360x480 CamVid input pools to 180x240, 90x120, 45x60, 23x30 (Caffe rounds up), 12x15).
:class:`PoolRecord` carries both; :func:`pool_records_to_dict` / :func:`pool_records_from_dict`
turn them into plain tensors for frameworks whose feature containers hold only tensors
(detectron2).

No framework import here; the adapters in ``segclassics.mmseg`` / ``segclassics.detectron2``
wrap these modules.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .vgg import VGG16_CFG, build_vgg_stages, convert_torchvision_vgg16


class PoolRecord(NamedTuple):
    """What a SegNet encoder pool hands to its decoder.

    Attributes:
        indices: ``(N, C, h, w)`` int64, for every pooled value the flat index ``y * W + x`` of
            its argmax inside the ``H x W`` pre-pool plane (``F.max_pool2d(return_indices=True)``).
        size: ``(H, W)`` the pre-pool spatial size (ints).
    """

    indices: torch.Tensor
    size: Tuple[int, int]


def max_pool_with_record(x: torch.Tensor, ceil_mode: bool = True) -> Tuple[torch.Tensor, PoolRecord]:
    """2x2/2 max-pool that also returns the :class:`PoolRecord` for unpooling."""
    size = (x.shape[-2], x.shape[-1])  # ints; symbolic while torch.export traces (no int(): it would freeze them)
    if not ceil_mode and min(size) < 2:
        raise ValueError(f"cannot 2x2-pool a {size[0]}x{size[1]} map without ceil_mode; use a larger input")
    y, idx = F.max_pool2d(x, kernel_size=2, stride=2, ceil_mode=ceil_mode, return_indices=True)
    return y, PoolRecord(idx, size)


def max_unpool(x: torch.Tensor, record: PoolRecord) -> torch.Tensor:
    """Place every value of ``x`` at its remembered argmax position of a zero map of the
    pre-pool size (SegNet Fig. 3, "bed of nails"); gradients flow to ``x`` only."""
    if tuple(x.shape) != tuple(record.indices.shape):
        raise ValueError(
            f"max_unpool: feature map {tuple(x.shape)} and pool indices {tuple(record.indices.shape)} "
            f"differ; a decoder stage must unpool with the indices of its mirrored encoder stage "
            f"(same channels and size)"
        )
    # A scatter of the values to their flat argmax indices in a zero (N, C, H*W) map: exactly
    # what F.max_unpool2d computes (2x2/2 windows never share a position, so no index repeats),
    # but without max_unpool2d's Python-side check of output_size against the input size, which
    # stops torch.jit.trace (traced sizes are tensors: "cond must be a bool"). So SegNet traces
    # (TorchScript, mmengine's and fvcore's FLOP counters, torch.onnx's TorchScript exporter ->
    # ScatterElements) and torch.export keeps the sizes symbolic. Runs in x's dtype (values are
    # copied, so bf16 is exact); the gradient reaching x is the gather at the same indices.
    n, c = x.shape[0], x.shape[1]
    h, w = record.size
    flat = x.new_zeros((n, c, h * w)).scatter(2, record.indices.flatten(2), x.flatten(2))
    return flat.view(n, c, h, w)


def pool_records_to_dict(records: Sequence[PoolRecord], prefix: str = "pool") -> Dict[str, torch.Tensor]:
    """``{'pool1_indices': Tensor, 'pool1_size': Tensor of shape (0, H, W), ...}`` (stages numbered from 1).

    For frameworks whose feature containers must hold tensors only (detectron2 backbones
    return ``Dict[str, Tensor]``). The pre-pool size is the *shape* of an empty tensor, not its
    values: reading it needs no device sync, and ``torch.export`` keeps it symbolic (a size read
    from tensor values would be data-dependent and fix the exported graph's input size).
    """
    out: Dict[str, torch.Tensor] = {}
    for s, r in enumerate(records, 1):
        out[f"{prefix}{s}_indices"] = r.indices
        out[f"{prefix}{s}_size"] = r.indices.new_empty((0, *r.size))
    return out


def pool_records_from_dict(
    features: Mapping[str, torch.Tensor], num_stages: int, prefix: str = "pool"
) -> List[PoolRecord]:
    """Inverse of :func:`pool_records_to_dict`; names the missing key if one is absent."""
    records = []
    for s in range(1, num_stages + 1):
        ki, ks = f"{prefix}{s}_indices", f"{prefix}{s}_size"
        for k in (ki, ks):
            if k not in features:
                raise KeyError(f"SegNet decoder needs feature {k!r} from the SegNet encoder; got {sorted(features)}")
        records.append(PoolRecord(features[ki], tuple(features[ks].shape[-2:])))
    return records


class SegNetEncoder(nn.Module):
    """Conv stages, each ended by a 2x2/2 max-pool that records its indices.

    Args:
        stages: one ``OrderedDict`` of layers per stage (named ``conv{s}_{i}``, ``bn{s}_{i}``,
            ``relu{s}_{i}``, the names of :mod:`segclassics.models.vgg`, so torchvision
            ``vgg16_bn`` weights load after :func:`convert_torchvision_vgg16`).
        out_channels: channels of the last stage.
        ceil_mode: pool output ``ceil(H/2)`` as Caffe (SegNet's release); ``False`` floors
            (torchvision) and then odd rows/columns are dropped by the pool and come back as zeros.
        arch: which network the stages are, one of :data:`SEGNET_ARCHS` (``'vgg16'``: SegNet,
            ``'basic'``: SegNet-Basic); kept as ``self.arch`` (a plain attribute, not in the
            state dict) for code that asks which SegNet it holds, e.g. the ONNX export.

    Shapes: ``forward(x (N, C_in, H, W)) -> (y, records)``; ``y`` is ``(N, out_channels,
    ~H/2^S, ~W/2^S)``; ``records[s]`` is the :class:`PoolRecord` of stage ``s + 1``.
    """

    def __init__(
        self,
        stages: Sequence["OrderedDict[str, nn.Module]"],
        out_channels: int,
        in_channels: int,
        ceil_mode: bool = True,
        *,
        arch: str,
    ):
        super().__init__()
        _check_arch(arch)
        self.arch = arch
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_stages = len(stages)
        self.ceil_mode = ceil_mode
        self._stage_layers: List[List[str]] = []
        for layers in stages:
            names = []
            for name, module in layers.items():
                self.add_module(name, module)
                names.append(name)
            self._stage_layers.append(names)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, List[PoolRecord]]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SegNet encoder expects (N, {self.in_channels}, H, W) images, got {tuple(x.shape)}")
        records = []
        for s, names in enumerate(self._stage_layers):
            if min(x.shape[-2:]) < 1:
                raise ValueError(f"input too small: stage {s + 1} gets an empty map {tuple(x.shape)}")
            for name in names:
                x = getattr(self, name)(x)
            x, rec = max_pool_with_record(x, self.ceil_mode)
            records.append(rec)
        return x, records


class SegNetDecoder(nn.Module):
    """Unpool with the mirrored encoder stage's :class:`PoolRecord`, then convolve; classify.

    Args:
        in_channels: channels of the encoder output.
        stages: per decoder stage (deepest first), the output channels of its convs.
        num_classes: classes of the soft-max classifier.
        kernel_size: conv kernel (3 for SegNet, 7 for SegNet-Basic).
        bias: conv biases (SegNet-Basic: none, BN follows every conv).
        relu: ReLU after each decoder BN (SegNet: yes; SegNet-Basic: no).
        classifier_kernel: kernel of the final class-score conv (SegNet's ``conv1_1_D``: 3;
            SegNet-Basic's ``conv_classifier``: 1). It always has a bias and no BN/ReLU.
        bn_momentum: BatchNorm momentum.

    Layers: ``stages[d]`` (d = 0 is the deepest) holds ``conv{s}_{j}``, ``bn{s}_{j}``
    [, ``relu{s}_{j}``] with ``s`` the mirrored encoder stage; then ``classifier``.

    Shapes: ``forward(x, records)`` with ``records`` shallow-first as the encoder returns them;
    output ``(N, num_classes, H, W)`` with ``(H, W) = records[0].size`` (the input size).
    """

    def __init__(
        self,
        in_channels: int,
        stages: Sequence[Sequence[int]],
        num_classes: int,
        *,
        kernel_size: int = 3,
        bias: bool = True,
        relu: bool = True,
        classifier_kernel: int = 3,
        bn_momentum: float = 0.1,
    ):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        n = len(stages)
        self.num_stages = n
        self.num_classes = num_classes
        self.stages = nn.ModuleList()
        c_in = in_channels
        for d, stage_cfg in enumerate(stages):
            s = n - d  # mirrored encoder stage number
            layers: "OrderedDict[str, nn.Module]" = OrderedDict()
            for j, c_out in enumerate(stage_cfg):
                tag = f"{s}_{j + 1}"  # decoder stage s mirrors encoder stage s
                layers[f"conv{tag}"] = nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=bias)
                layers[f"bn{tag}"] = nn.BatchNorm2d(c_out, momentum=bn_momentum)
                if relu:
                    layers[f"relu{tag}"] = nn.ReLU(inplace=True)
                c_in = c_out
            self.stages.append(nn.Sequential(layers))
        self.classifier = nn.Conv2d(c_in, num_classes, classifier_kernel, padding=classifier_kernel // 2)

    def forward(self, x: torch.Tensor, records: Sequence[PoolRecord]) -> torch.Tensor:
        if len(records) != self.num_stages:
            raise ValueError(f"SegNet decoder has {self.num_stages} stages but got {len(records)} pool records")
        for stage, rec in zip(self.stages, reversed(records)):
            x = stage(max_unpool(x, rec))
        return self.classifier(x)


def _mirror_stages(cfg: Sequence[Sequence[int]]) -> List[List[int]]:
    """SegNet's decoder channels from the encoder's: stage s mirrors encoder stage s; its last
    conv outputs encoder stage s-1's channels; decoder stage 1 ends without that conv because
    the classifier (``conv1_1_D``) replaces it."""
    out = []
    for s in range(len(cfg) - 1, -1, -1):
        stage = list(cfg[s])
        if s > 0:
            out.append(stage[:-1] + [cfg[s - 1][-1]])
        else:
            out.append(stage[:-1])
    return out


class SegNet(nn.Module):
    """SegNet (Sec. 3): VGG16-BN encoder with recorded pool indices, mirrored unpooling decoder.

    Args:
        num_classes: output classes (CamVid: 11).
        in_channels: image channels.
        cfg: encoder conv channels per stage (default VGG16, :data:`segclassics.models.vgg.VGG16_CFG`).
        ceil_mode: Caffe-style pooling (see :class:`SegNetEncoder`).

    Shapes: ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits (soft-max is in the loss).
    With VGG16 and 11 classes: 29,449,355 parameters (paper: 29.5 M).
    """

    def __init__(
        self, num_classes: int, in_channels: int = 3, cfg: Sequence[Sequence[int]] = VGG16_CFG, ceil_mode: bool = True
    ):
        super().__init__()
        self.encoder = build_segnet_vgg16_encoder(in_channels, cfg, ceil_mode)
        self.decoder = build_segnet_vgg16_decoder(num_classes, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, records = self.encoder(x)
        return self.decoder(y, records)

    def load_torchvision_vgg16_bn(self, state_dict_or_path) -> None:
        """Initialise the encoder from torchvision ``vgg16_bn`` weights (SegNet Sec. 3.2:
        "the encoder ... weights are initialised from VGG16 trained on ImageNet")."""
        load_vgg16_bn_into_encoder(self.encoder, state_dict_or_path)


def he_init(module: nn.Module) -> nn.Module:
    """SegNet Sec. 3.2 initialises encoder and decoder weights with He et al.'s method
    (here: Kaiming normal, fan-in, ReLU gain); BN to (1, 0); biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def build_segnet_vgg16_encoder(
    in_channels: int = 3, cfg: Sequence[Sequence[int]] = VGG16_CFG, ceil_mode: bool = True
) -> SegNetEncoder:
    stages = build_vgg_stages(in_channels, cfg, norm="BN")
    return he_init(SegNetEncoder(stages, cfg[-1][-1], in_channels, ceil_mode, arch="vgg16"))


def build_segnet_vgg16_decoder(num_classes: int, cfg: Sequence[Sequence[int]] = VGG16_CFG) -> SegNetDecoder:
    return he_init(
        SegNetDecoder(
            cfg[-1][-1], _mirror_stages(cfg), num_classes, kernel_size=3, bias=True, relu=True, classifier_kernel=3
        )
    )


def load_vgg16_bn_into_encoder(encoder: SegNetEncoder, state_dict_or_path) -> SegNetEncoder:
    """Load torchvision ``vgg16_bn`` (state dict or path) into a VGG16 :class:`SegNetEncoder`."""
    from ..utils.checkpoint import load_state_dict_checked

    return load_state_dict_checked(
        encoder, state_dict_or_path, convert=lambda sd: convert_torchvision_vgg16(sd, with_fc=False)
    )


# --- SegNet-Basic --------------------------------------------------------------------------------


def build_segnet_basic_encoder(
    in_channels: int = 3, num_stages: int = 4, channels: int = 64, kernel_size: int = 7, ceil_mode: bool = True
) -> SegNetEncoder:
    """SegNet-Basic's encoder: per stage conv(kxk, no bias) + BN + ReLU, then the pool."""
    stages = []
    c_in = in_channels
    for s in range(1, num_stages + 1):
        stages.append(
            OrderedDict(
                [
                    (f"conv{s}_1", nn.Conv2d(c_in, channels, kernel_size, padding=kernel_size // 2, bias=False)),
                    (f"bn{s}_1", nn.BatchNorm2d(channels)),
                    (f"relu{s}_1", nn.ReLU(inplace=True)),
                ]
            )
        )
        c_in = channels
    return he_init(SegNetEncoder(stages, channels, in_channels, ceil_mode, arch="basic"))


def build_segnet_basic_decoder(
    num_classes: int, num_stages: int = 4, channels: int = 64, kernel_size: int = 7
) -> SegNetDecoder:
    """SegNet-Basic's decoder: per stage unpool, conv(kxk, no bias) + BN (no ReLU); 1x1 classifier."""
    return he_init(
        SegNetDecoder(
            channels,
            [[channels]] * num_stages,
            num_classes,
            kernel_size=kernel_size,
            bias=False,
            relu=False,
            classifier_kernel=1,
        )
    )


class SegNetBasic(nn.Module):
    """SegNet-Basic (Sec. 3.1, decoder variants): 4 encoders + 4 decoders, ``channels`` = 64, 7x7 kernels, BN,
    no biases, no decoder ReLU, 1x1 soft-max classifier. 1,416,075 parameters for 11 classes.

    Shapes: ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        num_stages: int = 4,
        channels: int = 64,
        kernel_size: int = 7,
        ceil_mode: bool = True,
    ):
        super().__init__()
        self.encoder = build_segnet_basic_encoder(in_channels, num_stages, channels, kernel_size, ceil_mode)
        self.decoder = build_segnet_basic_decoder(num_classes, num_stages, channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, records = self.encoder(x)
        return self.decoder(y, records)


# --- one entry point for the framework adapters ---------------------------------------------------

#: the SegNet networks by ``arch``, with their names in the paper
SEGNET_ARCH_NAMES = {"vgg16": "SegNet", "basic": "SegNet-Basic"}
SEGNET_ARCHS = tuple(SEGNET_ARCH_NAMES)


def _check_arch(arch: str) -> None:
    if arch not in SEGNET_ARCHS:
        raise ValueError(
            f"SegNet arch must be one of {SEGNET_ARCHS} ('vgg16': SegNet, 'basic': SegNet-Basic), got {arch!r}"
        )


def build_segnet_encoder(
    arch: str = "vgg16",
    in_channels: int = 3,
    *,
    widths: Optional[Sequence[int]] = None,
    channels: int = 64,
    num_stages: int = 4,
    kernel_size: int = 7,
    ceil_mode: bool = True,
) -> SegNetEncoder:
    """``arch='vgg16'``: SegNet's encoder (``widths`` = VGG16 stage widths, default the paper's);
    ``arch='basic'``: SegNet-Basic's (``num_stages`` x ``channels``, ``kernel_size``)."""
    _check_arch(arch)
    if arch == "vgg16":
        from .vgg import vgg16_cfg

        return build_segnet_vgg16_encoder(in_channels, vgg16_cfg(widths), ceil_mode)
    return build_segnet_basic_encoder(in_channels, num_stages, channels, kernel_size, ceil_mode)


def build_segnet_decoder(
    arch: str = "vgg16",
    num_classes: int = 11,
    *,
    widths: Optional[Sequence[int]] = None,
    channels: int = 64,
    num_stages: int = 4,
    kernel_size: int = 7,
) -> SegNetDecoder:
    """The decoder matching :func:`build_segnet_encoder` with the same arguments."""
    _check_arch(arch)
    if arch == "vgg16":
        from .vgg import vgg16_cfg

        return build_segnet_vgg16_decoder(num_classes, vgg16_cfg(widths))
    return build_segnet_basic_decoder(num_classes, num_stages, channels, kernel_size)
