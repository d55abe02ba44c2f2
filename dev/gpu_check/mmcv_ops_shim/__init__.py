"""``mmcv.ops`` for an mmcv built without compiled ops (``MMCV_WITH_OPS=0``), backed by torchvision.

Why: the GPU check runs on a machine with torch 2.11 / CUDA 13 / Python 3.12 and no OpenMMLab
packages. mmcv 2.1.0's compiled ops cannot be built for that torch in the time and size the check
has (see docs/gpu.md), while mmseg and mmdet import ``mmcv.ops`` names when their model modules
load, and Mask R-CNN calls NMS and RoIAlign. The bundle builder puts this file in place of
``mmcv/ops/`` in the repacked mmcv-lite wheel.

What works (torchvision.ops kernels, CPU and CUDA):

* ``nms``, ``batched_nms`` (``type='nms'`` only; ``offset`` must be 0), ``roi_align``,
  ``RoIAlign`` (``pool_mode='avg'``), ``roi_pool``, ``RoIPool`` -- what RPN, the RoI extractor,
  the box/mask heads and ``BitmapMasks.crop_and_resize`` of Mask R-CNN need.

What does not: every other ``mmcv.ops`` name (deformable convolution, CARAFE, focal loss,
multi-scale deformable attention, PSAMask, criss-cross attention, point sampling, ...) resolves
to a placeholder class, so that modules which only *import* it still load; creating or calling
it raises :class:`NotImplementedError` naming the op. ``import mmcv.ops.<submodule>`` works the
same way (the submodule's names resolve here).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

try:  # torchvision is on the GPU machine; without it only the placeholders are usable
    from torchvision import ops as _tv
except ImportError:  # pragma: no cover - depends on the environment
    _tv = None

SHIM = True  # lets a caller tell this module from mmcv's compiled ops


def _need_torchvision(op: str):
    if _tv is None:
        raise NotImplementedError(
            f"mmcv.ops.{op}: this mmcv has no compiled ops and torchvision is not "
            f"installed, which the mmcv.ops shim uses instead"
        )
    return _tv


def _as_tensor(x):
    return (torch.from_numpy(x), True) if isinstance(x, np.ndarray) else (x, False)


def nms(boxes, scores, iou_threshold: float, offset: int = 0, score_threshold: float = 0, max_num: int = -1) -> Tuple:
    """Greedy NMS. Returns ``(dets, keep)``: ``dets`` (K, 5) = kept boxes + score, in descending
    score order; ``keep`` their indices into ``boxes``. Numpy in, numpy out (like mmcv)."""
    if offset != 0:
        raise NotImplementedError("mmcv.ops.nms shim: only offset=0 (torchvision box convention)")
    tv = _need_torchvision("nms")
    boxes, was_np = _as_tensor(boxes)
    scores, _ = _as_tensor(scores)
    idx = torch.arange(boxes.size(0), device=boxes.device)
    if score_threshold > 0:
        valid = scores > score_threshold
        boxes, scores, idx = boxes[valid], scores[valid], idx[valid]
    keep = tv.nms(boxes.float(), scores.float(), float(iou_threshold))  # sorted by score, descending
    if max_num > 0:
        keep = keep[:max_num]
    dets = torch.cat([boxes[keep], scores[keep, None].to(boxes.dtype)], dim=1)
    keep = idx[keep]
    return (dets.numpy(), keep.numpy()) if was_np else (dets, keep)


def batched_nms(
    boxes: Tensor, scores: Tensor, idxs: Tensor, nms_cfg: Optional[Dict], class_agnostic: bool = False
) -> Tuple[Tensor, Tensor]:
    """NMS within each ``idxs`` group (all together if ``class_agnostic``). ``nms_cfg``: ``type``
    ('nms'), ``iou_threshold``, optional ``max_num``, ``class_agnostic``, ``split_thr`` (no
    effect: torchvision's batched NMS needs no split). ``None`` = no NMS, only sort by score.
    Returns ``(dets (K, 5), keep)`` sorted by score, descending."""
    if nms_cfg is None:
        scores, order = scores.sort(descending=True)
        return torch.cat([boxes[order], scores[:, None]], -1), order
    cfg = dict(nms_cfg)
    kind = cfg.pop("type", "nms")
    if kind != "nms":
        raise NotImplementedError(
            f"mmcv.ops.batched_nms shim: nms type {kind!r} needs mmcv's compiled ops; only type='nms' is available"
        )
    if boxes.size(-1) != 4:
        raise NotImplementedError("mmcv.ops.batched_nms shim: only axis-aligned (N, 4) boxes")
    class_agnostic = cfg.pop("class_agnostic", class_agnostic)
    iou = float(cfg.pop("iou_threshold", cfg.pop("iou_thr", 0.5)))
    max_num = int(cfg.pop("max_num", -1))
    cfg.pop("split_thr", None)
    if cfg.pop("offset", 0) != 0:
        raise NotImplementedError("mmcv.ops.batched_nms shim: only offset=0")
    if cfg:
        raise NotImplementedError(f"mmcv.ops.batched_nms shim: unsupported nms_cfg keys {sorted(cfg)}")
    tv = _need_torchvision("batched_nms")
    groups = torch.zeros_like(idxs) if class_agnostic else idxs
    keep = tv.batched_nms(boxes.float(), scores.float(), groups, iou)  # descending score
    if max_num > 0:
        keep = keep[:max_num]
    return torch.cat([boxes[keep], scores[keep, None]], -1), keep


def roi_align(
    input: Tensor,
    rois: Tensor,
    output_size,
    spatial_scale: float = 1.0,
    sampling_ratio: int = 0,
    pool_mode: str = "avg",
    aligned: bool = True,
) -> Tensor:
    """RoIAlign of ``rois`` (K, 5) = (batch index, x1, y1, x2, y2) on ``input`` (N, C, H, W) ->
    (K, C, *output_size). ``sampling_ratio <= 0``: adaptive, as in mmcv and torchvision."""
    if pool_mode != "avg":
        raise NotImplementedError(
            f"mmcv.ops.roi_align shim: pool_mode={pool_mode!r} needs mmcv's compiled ops; only 'avg' is available"
        )
    return _need_torchvision("roi_align").roi_align(
        input, rois.to(input.dtype), output_size, spatial_scale, sampling_ratio, aligned
    )


def roi_pool(input: Tensor, rois: Tensor, output_size, spatial_scale: float = 1.0) -> Tensor:
    """RoI max pooling (Fast R-CNN), same ``rois`` format as :func:`roi_align`."""
    return _need_torchvision("roi_pool").roi_pool(input, rois.to(input.dtype), output_size, spatial_scale)


class RoIAlign(nn.Module):
    """Module form of :func:`roi_align`; mmdet's RoI extractors build it by name."""

    def __init__(
        self,
        output_size,
        spatial_scale: float = 1.0,
        sampling_ratio: int = 0,
        pool_mode: str = "avg",
        aligned: bool = True,
        use_torchvision: bool = False,
    ):
        super().__init__()
        self.output_size = _pair(output_size)  # mmdet reads it as (h, w)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = aligned

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        return roi_align(
            input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.pool_mode, self.aligned
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, pool_mode={self.pool_mode}, aligned={self.aligned}, "
            f"backend=torchvision"
        )


class RoIPool(nn.Module):
    """Module form of :func:`roi_pool`."""

    def __init__(self, output_size, spatial_scale: float = 1.0):
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)


def get_compiler_version() -> str:
    return "none (mmcv.ops shim over torchvision, no compiled ops)"


def get_compiling_cuda_version() -> str:
    return "none (mmcv.ops shim over torchvision, no compiled ops)"


_PLACEHOLDERS: Dict[str, type] = {}


def _placeholder(name: str) -> type:
    """A class standing for an op this build lacks: importable, subclassable, usable in
    ``isinstance``; instantiating or calling it raises."""
    if name not in _PLACEHOLDERS:

        def __init__(self, *args, **kwargs):
            raise NotImplementedError(
                f"mmcv.ops.{name} needs mmcv's compiled ops, which this mmcv (built with "
                f"MMCV_WITH_OPS=0, ops shimmed over torchvision) does not have"
            )

        _PLACEHOLDERS[name] = type(
            name,
            (nn.Module,),
            {"__init__": __init__, "__module__": __name__, "__doc__": f"Unavailable mmcv op {name}."},
        )
    return _PLACEHOLDERS[name]


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return _placeholder(name)


class _SubmoduleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import mmcv.ops.<anything>`` -> this module (mmdet imports e.g. ``mmcv.ops.carafe``)."""

    prefix = __name__ + "."

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(self.prefix):
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return None  # a plain new module

    def exec_module(self, module):
        module.__getattr__ = lambda name: getattr(sys.modules[__name__], name)


if __name__ == "mmcv.ops" and not any(isinstance(f, _SubmoduleFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _SubmoduleFinder())
    # Importing a submodule binds it as an attribute of this package, which would hide the
    # function of the same name (``from mmcv.ops.roi_align import roi_align`` in mmdet would turn
    # ``mmcv.ops.roi_align`` into a module). Import those submodules now, then rebind the functions:
    # later imports find them in sys.modules and bind nothing.
    _functions = dict(nms=nms, roi_align=roi_align, roi_pool=roi_pool)
    for _name in _functions:
        importlib.import_module(f"{__name__}.{_name}")
    globals().update(_functions)
