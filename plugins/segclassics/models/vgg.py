"""VGG16 (Simonyan & Zisserman, ICLR 2015, Table 1 column D), optionally convolutionized
as in FCN (Long, Shelhamer & Darrell, CVPR 2015, Sec. 3.1 "Adapting classifiers for dense
prediction"): ``fc6`` becomes a 7x7 convolution with 4096 outputs and ``fc7`` a 1x1
convolution with 4096 outputs, so the network accepts any input size and returns score
*maps*.

Plain torch; no framework import. Used by:

* ``segclassics.models.fcn`` (FCN-32s/16s/8s: features ``pool3``, ``pool4``, ``fc7``);
* SegNet's encoder (``VGG16_CFG`` / :func:`build_vgg_stages`, 13 conv + BN layers);
* the mmseg / detectron2 / mmdet backbone adapters.

Layer names follow the Caffe model zoo VGG16 prototxt (``conv1_1`` ... ``conv5_3``,
``pool1`` ... ``pool5``, ``fc6``, ``fc7``, ``fc8``); batch-norm layers are ``bn1_1`` ...
so checkpoint keys read ``conv3_2.weight``, ``bn3_2.running_mean``, ``fc6.weight``.
:func:`convert_torchvision_vgg16` maps torchvision's ``vgg16`` / ``vgg16_bn`` state
dicts to these keys.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from segclassics.errors import MissingFileError
from segclassics.utils.checkpoint import load_state_dict_checked, read_state_dict

from .norm import build_norm, check_norm

# ---------------------------------------------------------------------------------------
# Configuration: the single place that says what VGG16 is.
# ---------------------------------------------------------------------------------------

#: Output channels of each 3x3 convolution, per stage (VGG paper Table 1, column D):
#: 2 + 2 + 3 + 3 + 3 = 13 convolutions, each followed by ReLU; a 2x2/2 max-pool ends each stage.
VGG16_CFG: Tuple[Tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))

#: Stage widths of VGG16 (the first entry of each stage in :data:`VGG16_CFG`).
VGG16_WIDTHS: Tuple[int, ...] = tuple(stage[0] for stage in VGG16_CFG)

#: Width of the fully connected (convolutionized) layers fc6 and fc7.
VGG16_FC_CHANNELS = 4096


def vgg16_cfg(widths: Optional[Sequence[int]] = None) -> Tuple[Tuple[int, ...], ...]:
    """VGG16's conv configuration, optionally with other stage widths (same depth).

    ``widths=(8, 16, 32, 64, 64)`` gives a narrow VGG16 for CPU tests; ``None`` the paper's.
    """
    if widths is None:
        return VGG16_CFG
    widths = tuple(int(w) for w in widths)
    if len(widths) != len(VGG16_CFG) or any(w <= 0 for w in widths):
        raise ValueError(f"widths must be 5 positive stage widths like {VGG16_WIDTHS}, got {widths}")
    return tuple(tuple(w for _ in stage) for w, stage in zip(widths, VGG16_CFG))


def vgg_layer_names(cfg: Sequence[Sequence[int]] = VGG16_CFG) -> List[List[str]]:
    """Conv layer names per stage: ``[['conv1_1', 'conv1_2'], ..., ['conv5_1', ..., 'conv5_3']]``."""
    return [[f"conv{s + 1}_{i + 1}" for i in range(len(stage))] for s, stage in enumerate(cfg)]


def vgg16_feature_size(
    name: str, size: int, conv1_1_padding: int = 1, fc6_padding: int = 0, ceil_mode: bool = True
) -> int:
    """Spatial size (one axis) of VGG16 feature ``name`` for an input of ``size`` pixels.

    ``name``: ``convS_I``, ``poolS`` (S = 1..5), ``fc6``, ``fc7`` or ``fc8``. conv1_1 (3x3, padding
    ``conv1_1_padding``) gives ``size + 2 p - 2``; the other 3x3 convs (padding 1) keep the size;
    each 2x2 stride-2 pool halves it, rounding up in ``ceil_mode`` (Caffe's); fc6, a 7x7
    convolution with padding ``fc6_padding``, adds ``2 p6 - 6``; fc7 and fc8 (1x1) keep it.
    Plain integer arithmetic, so symbolic (traced) sizes stay symbolic.
    """
    if name in ("fc6", "fc7", "fc8"):
        pools, fc = 5, True
    elif name.startswith("pool") and name[4:].isdigit():
        pools, fc = int(name[4:]), False
    elif name.startswith("conv") and name[4:].split("_")[0].isdigit():
        pools, fc = int(name[4:].split("_")[0]) - 1, False
    else:
        raise ValueError(f"unknown VGG16 feature {name!r}: convS_I, poolS, fc6, fc7 or fc8")
    x = size + 2 * conv1_1_padding - 2  # conv1_1 (3x3)
    for _ in range(pools):
        x = -(-x // 2) if ceil_mode else x // 2
    return x + 2 * fc6_padding - 6 if fc else x


def build_vgg_stages(
    in_channels: int = 3,
    cfg: Sequence[Sequence[int]] = VGG16_CFG,
    *,
    norm: Optional[str] = None,
    conv1_1_padding: int = 1,
    bn_momentum: float = 0.1,
    inplace_relu: bool = True,
) -> List["OrderedDict[str, nn.Module]"]:
    """The conv layers of each VGG stage, *without* the pools.

    Returns one ``OrderedDict`` per stage mapping layer names to modules, in forward order:
    ``conv{s}_{i}`` (3x3, padding 1, bias) [, ``bn{s}_{i}``], ``relu{s}_{i}``. Wrap a stage in
    ``nn.Sequential(stage)`` or ``setattr`` its entries; add the pooling you need (FCN: max-pool
    2x2/2 with ``ceil_mode`` as Caffe; SegNet: ``return_indices=True``).

    Args:
        in_channels: channels of the input image.
        cfg: output channels of each conv, per stage (:data:`VGG16_CFG` or :func:`vgg16_cfg`).
        norm: ``None`` (VGG16) or a layer after every conv (:mod:`segclassics.models.norm`;
            ``'BN'`` is torchvision's ``vgg16_bn`` and SegNet's encoder).
        conv1_1_padding: padding of the very first conv; FCN's reference Caffe nets use 100
            so that any input survives the 7x7 ``fc6`` (Long et al., voc-fcn*/net.py).
        bn_momentum: BatchNorm momentum.
        inplace_relu: use ``ReLU(inplace=True)``.
    """
    if in_channels <= 0:
        raise ValueError(f"in_channels must be positive, got {in_channels}")
    if conv1_1_padding < 0:
        raise ValueError(f"conv1_1_padding must be >= 0, got {conv1_1_padding}")
    check_norm(norm, "VGG16 norm")
    stages = []
    c_in = in_channels
    for s, stage_cfg in enumerate(cfg):
        layers: "OrderedDict[str, nn.Module]" = OrderedDict()
        for i, c_out in enumerate(stage_cfg):
            tag = f"{s + 1}_{i + 1}"
            pad = conv1_1_padding if (s == 0 and i == 0) else 1
            layers[f"conv{tag}"] = nn.Conv2d(c_in, c_out, 3, padding=pad)
            if norm is not None:
                layers[f"bn{tag}"] = build_norm(norm, c_out, momentum=bn_momentum)
            layers[f"relu{tag}"] = nn.ReLU(inplace=inplace_relu)
            c_in = c_out
        stages.append(layers)
    return stages


# ---------------------------------------------------------------------------------------
# The backbone.
# ---------------------------------------------------------------------------------------

FeatureKey = Union[str, int]


class VGG16(nn.Module):
    """VGG16 feature extractor, optionally with convolutionized ``fc6``/``fc7`` (FCN Sec. 3.1).

    Args:
        in_channels: input image channels.
        norm: ``None`` (VGG16) or ``'BN'`` (the ``vgg16_bn`` variant: BN after each of the 13
            convs), ``'SyncBN'``, ``'GN'`` (:mod:`segclassics.models.norm`; layers ``bn1_1`` ...).
        with_fc: build ``fc6`` (7x7 conv, ``fc_channels``) and ``fc7`` (1x1 conv,
            ``fc_channels``), each followed by ReLU and ``Dropout2d``-free ``Dropout(p)`` as
            in Caffe's ``drop6``/``drop7`` (element-wise dropout).
        num_classes: if set (needs ``with_fc``), also build ``fc8`` (1x1 conv to
            ``num_classes``), the ImageNet classifier as a convolution; output name ``fc8``.
        out_indices: which features ``forward`` returns, in this order. Names of any layer
            (``'conv4_3'``, ``'pool3'``, ``'fc7'``; conv outputs are taken after their ReLU)
            or ints indexing :attr:`stage_names` (``pool1..pool5`` then ``fc7``/``fc8`` if
            built). Default: ``('pool3', 'pool4', 'fc7')`` with ``with_fc``, else
            ``('pool1', ..., 'pool5')``.
        conv1_1_padding: 1 (VGG) or 100 (FCN reference nets: lets ``fc6`` see any input).
        fc6_padding: 0 (VGG/FCN reference) or 3 ("same" padding; FCN padded variant).
        ceil_mode: pool output size ``ceil(H/2)`` as in Caffe (the VGG and FCN reference
            models were Caffe models); ``False`` gives torchvision's ``floor(H/2)``. Both are
            identical for inputs divisible by 32 (e.g. 224).
        dropout: dropout probability after ``fc6`` and ``fc7`` (0.5 in VGG and FCN).
        widths: stage widths (default VGG16's ``(64, 128, 256, 512, 512)``); narrower widths
            are only for quick CPU tests.
        fc_channels: width of fc6/fc7 (4096).
        bn_momentum: BatchNorm momentum.

    Shapes:
        input ``(N, in_channels, H, W)``; ``poolK`` has ``widths[K-1]`` channels and (with
        ``ceil_mode``) spatial size ``ceil((H + 2*conv1_1_padding - 2) / 2**K)``; ``fc6``/``fc7``
        have ``fc_channels`` channels and ``pool5 - 6 + 2*fc6_padding`` spatial size.
        ``forward`` returns a tuple of the ``out_indices`` features.
    """

    def __init__(
        self,
        in_channels: int = 3,
        *,
        norm: Optional[str] = None,
        with_fc: bool = True,
        num_classes: Optional[int] = None,
        out_indices: Optional[Sequence[FeatureKey]] = None,
        conv1_1_padding: int = 1,
        fc6_padding: int = 0,
        ceil_mode: bool = True,
        dropout: float = 0.5,
        widths: Optional[Sequence[int]] = None,
        fc_channels: int = VGG16_FC_CHANNELS,
        bn_momentum: float = 0.1,
    ):
        super().__init__()
        if num_classes is not None and not with_fc:
            raise ValueError("num_classes (an fc8 classifier) needs with_fc=True")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if fc6_padding < 0:
            raise ValueError(f"fc6_padding must be >= 0, got {fc6_padding}")
        self.in_channels = in_channels
        self.norm = norm
        self.with_fc = with_fc
        self.conv1_1_padding = conv1_1_padding
        self.fc6_padding = fc6_padding
        self.ceil_mode = ceil_mode
        self.cfg = vgg16_cfg(widths)
        self.widths = tuple(stage[-1] for stage in self.cfg)
        self.fc_channels = fc_channels

        # _plan: ordered (name, kind) over every named point, used by forward.
        self._plan: List[Tuple[str, str]] = []
        self.channels: Dict[str, int] = {}
        self.strides: Dict[str, int] = {}
        stages = build_vgg_stages(
            in_channels, self.cfg, norm=norm, conv1_1_padding=conv1_1_padding, bn_momentum=bn_momentum
        )
        for s, layers in enumerate(stages):
            for name, module in layers.items():
                self.add_module(name, module)
                if name.startswith("relu"):
                    conv_name = "conv" + name[4:]
                    self._plan.append((conv_name, "conv_block"))
                    self.channels[conv_name] = self.cfg[s][int(conv_name.split("_")[1]) - 1]
                    self.strides[conv_name] = 2**s
            pool = f"pool{s + 1}"
            self.add_module(pool, nn.MaxPool2d(2, 2, ceil_mode=ceil_mode))
            self._plan.append((pool, "pool"))
            self.channels[pool] = self.cfg[s][-1]
            self.strides[pool] = 2 ** (s + 1)
        if with_fc:
            self.fc6 = nn.Conv2d(self.cfg[-1][-1], fc_channels, 7, padding=fc6_padding)
            self.relu6 = nn.ReLU(inplace=True)
            self.drop6 = nn.Dropout(dropout)
            self.fc7 = nn.Conv2d(fc_channels, fc_channels, 1)
            self.relu7 = nn.ReLU(inplace=True)
            self.drop7 = nn.Dropout(dropout)
            self._plan += [("fc6", "fc"), ("fc7", "fc")]
            self.channels.update(fc6=fc_channels, fc7=fc_channels)
            self.strides.update(fc6=32, fc7=32)
        if num_classes is not None:
            self.fc8 = nn.Conv2d(fc_channels, num_classes, 1)
            self._plan.append(("fc8", "fc8"))
            self.channels["fc8"] = num_classes
            self.strides["fc8"] = 32
        self.stage_names: Tuple[str, ...] = (
            tuple(f"pool{s}" for s in range(1, 6))
            + (("fc7",) if with_fc else ())
            + (("fc8",) if num_classes is not None else ())
        )
        if out_indices is None:
            out_indices = ("pool3", "pool4", "fc7") if with_fc else self.stage_names[:5]
        self.out_names: Tuple[str, ...] = tuple(self._resolve(k) for k in out_indices)
        if not self.out_names:
            raise ValueError("out_indices must name at least one feature")
        order = [n for n, _ in self._plan]
        self._last = max(order.index(n) for n in self.out_names)

    def _resolve(self, key: FeatureKey) -> str:
        names = [n for n, _ in self._plan]
        if isinstance(key, int) and not isinstance(key, bool):
            if not -len(self.stage_names) <= key < len(self.stage_names):
                raise ValueError(f"out index {key} out of range for stage_names {self.stage_names}")
            return self.stage_names[key]
        if isinstance(key, str) and key in names:
            return key
        hint = "" if self.with_fc or key not in ("fc6", "fc7") else " (fc6/fc7 need with_fc=True)"
        raise ValueError(f"unknown VGG16 feature {key!r}{hint}; valid: {names} or ints into {self.stage_names}")

    # -- geometry --------------------------------------------------------------------------
    def feature_size(self, name: str, size: int) -> int:
        """Spatial size (one axis) of feature ``name`` for an input of ``size`` pixels."""
        return vgg16_feature_size(self._resolve(name), size, self.conv1_1_padding, self.fc6_padding, self.ceil_mode)

    def min_input_size(self) -> int:
        """Smallest input side for which every returned feature is non-empty."""
        size = 1
        while any(self.feature_size(n, size) < 1 for n in self.out_names):
            size += 1
        return size

    # -- forward ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"VGG16 expects (N, {self.in_channels}, H, W) images, got shape {tuple(x.shape)}")
        if self.with_fc and any(n in self.out_names for n in ("fc6", "fc7", "fc8")):
            h, w = x.shape[-2:]
            p5 = (self.feature_size("pool5", h), self.feature_size("pool5", w))  # no int(): sizes may be symbolic
            if min(p5) + 2 * self.fc6_padding < 7:
                raise ValueError(
                    f"input {int(h)}x{int(w)} is too small for VGG16's 7x7 fc6: pool5 is {p5[0]}x{p5[1]} "
                    f"(needs >= {7 - 2 * self.fc6_padding}); use inputs of at least {self.min_input_size()} "
                    f"pixels per side, or conv1_1_padding=100 (FCN reference) or fc6_padding=3"
                )
        outs: Dict[str, torch.Tensor] = {}
        for idx, (name, kind) in enumerate(self._plan):
            if kind == "conv_block":
                tag = name[4:]
                x = getattr(self, name)(x)
                if self.norm is not None:
                    x = getattr(self, "bn" + tag)(x)
                x = getattr(self, "relu" + tag)(x)
            elif kind == "pool":
                x = getattr(self, name)(x)
            elif name == "fc6":
                x = self.drop6(self.relu6(self.fc6(x)))
            elif name == "fc7":
                x = self.drop7(self.relu7(self.fc7(x)))
            else:  # fc8
                x = self.fc8(x)
            if name in self.out_names:
                outs[name] = x
            if idx == self._last:
                break
        return tuple(outs[n] for n in self.out_names)


# ---------------------------------------------------------------------------------------
# torchvision -> segclassics key mapping (used by python -m segclassics.tools.convert_weights.vgg16_torchvision).
# ---------------------------------------------------------------------------------------


def torchvision_vgg16_name_map(batch_norm: bool, cfg: Sequence[Sequence[int]] = VGG16_CFG) -> Dict[str, str]:
    """Module-prefix map from torchvision ``vgg16``/``vgg16_bn`` to our layer names.

    torchvision's ``features`` is one ``nn.Sequential``: conv, [bn,] relu per conv and a
    max-pool after each stage; ``classifier`` is ``Linear(25088, 4096), ReLU, Dropout,
    Linear(4096, 4096), ReLU, Dropout, Linear(4096, 1000)``. Returns e.g.
    ``{'features.0': 'conv1_1', ..., 'classifier.0': 'fc6', 'classifier.3': 'fc7',
    'classifier.6': 'fc8'}`` (with BN: ``'features.1': 'bn1_1'``).
    """
    out: Dict[str, str] = {}
    i = 0
    for stage_names in vgg_layer_names(cfg):
        for conv in stage_names:
            out[f"features.{i}"] = conv
            i += 1
            if batch_norm:
                out[f"features.{i}"] = "bn" + conv[4:]
                i += 1
            i += 1  # relu
        i += 1  # pool
    out.update({"classifier.0": "fc6", "classifier.3": "fc7", "classifier.6": "fc8"})
    return out


def convert_torchvision_vgg16(
    state_dict: Mapping[str, torch.Tensor], *, with_fc: bool = True, with_fc8: bool = False, prefix: str = ""
) -> Dict[str, torch.Tensor]:
    """torchvision ``vgg16`` / ``vgg16_bn`` state dict -> :class:`VGG16` keys.

    The classifier's ``Linear`` weights become conv kernels (FCN Sec. 3.1): ``fc6``
    ``(4096, 25088) -> (4096, 512, 7, 7)`` (torchvision flattens ``(C, H, W)`` in that order),
    ``fc7`` ``(4096, 4096) -> (4096, 4096, 1, 1)``, ``fc8`` ``(1000, 4096) -> (1000, 4096, 1, 1)``.

    Args:
        state_dict: torchvision keys (``features.N.*``, ``classifier.N.*``); a leading
            ``module.`` is stripped.
        with_fc: keep fc6/fc7 (for ``VGG16(with_fc=True)``); ``False`` drops them.
        with_fc8: keep the 1000-class ImageNet classifier as ``fc8`` (``VGG16(num_classes=1000)``).
        prefix: prepended to every output key (e.g. ``'backbone.'`` for a whole segmentor).

    Raises:
        ValueError: a key that is not a torchvision VGG16 key (the message names it).
    """
    sd = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state_dict.items()}
    batch_norm = any(k.endswith("running_mean") for k in sd)
    name_map = torchvision_vgg16_name_map(batch_norm)
    out: Dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in sd.items():
        m = re.fullmatch(r"((?:features|classifier)\.\d+)\.(\w+)", key)
        if m is None or m.group(1) not in name_map:
            unknown.append(key)
            continue
        ours = name_map[m.group(1)]
        if ours in ("fc6", "fc7") and not with_fc or ours == "fc8" and not with_fc8:
            continue
        if m.group(2) == "weight" and ours.startswith("fc"):
            if value.dim() != 2:
                raise ValueError(f"{key}: expected a Linear weight (2-D), got shape {tuple(value.shape)}")
            if ours == "fc6":
                c = value.shape[1] // 49
                if c * 49 != value.shape[1]:
                    raise ValueError(f"{key}: in_features {value.shape[1]} is not C*7*7 (expected 512*7*7=25088)")
                value = value.reshape(value.shape[0], c, 7, 7)
            else:
                value = value.reshape(value.shape[0], value.shape[1], 1, 1)
        out[prefix + ours + "." + m.group(2)] = value
    if unknown:
        raise ValueError(
            f"not torchvision vgg16/vgg16_bn keys: {unknown[:10]}"
            f"{' ...' if len(unknown) > 10 else ''} (expected features.N.* / classifier.N.*)"
        )
    return out


def load_vgg16_weights(model: VGG16, state_dict_or_path, *, allow_missing: Tuple[str, ...] = ()) -> VGG16:
    """Load torchvision-format *or* already converted weights into ``model`` with a key/shape check.

    torchvision keys (``features.N.*``) are converted with :func:`convert_torchvision_vgg16`
    (fc6/fc7 kept iff ``model.with_fc``; fc8 iff the model has it). A ``backbone.`` prefix
    (whole-segmentor checkpoints) is stripped. Mismatches raise
    :class:`segclassics.utils.checkpoint.CheckpointMismatchError` naming the keys.
    """
    if isinstance(state_dict_or_path, str):
        if not os.path.isfile(state_dict_or_path):
            raise MissingFileError(
                f"VGG16 weights not found: {state_dict_or_path!r}. Get torchvision's ImageNet VGG16 "
                f"(torchvision.models.vgg16(weights='IMAGENET1K_V1') caches vgg16-397923af.pth) and convert it: "
                f"python -m segclassics.tools.convert_weights.vgg16_torchvision vgg16-397923af.pth "
                f"{state_dict_or_path} (see docs/models/fcn.md); or set pretrained=None to train from scratch"
            )
        sd = read_state_dict(state_dict_or_path)
    else:
        sd = dict(state_dict_or_path)
    if sd and all(k.startswith("backbone.") for k in sd):
        sd = {k[len("backbone.") :]: v for k, v in sd.items()}
    if any(k.startswith(("features.", "module.features.")) for k in sd):
        sd = convert_torchvision_vgg16(sd, with_fc=model.with_fc, with_fc8=hasattr(model, "fc8"))
    return load_state_dict_checked(model, sd, allow_missing=allow_missing)
