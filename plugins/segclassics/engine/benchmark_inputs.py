"""Inputs for ``engine/benchmark.py``: a synthetic batch in each framework's own format, and the
inference / loss closures that feed it to the model.

The batch comes from :func:`segclassics.datasets.synthetic.render_sample` at the requested shape
(images, index labels taken modulo the model's class count, instances with boxes and masks), so
heads that sample proposals see realistic targets. The mm data preprocessor runs once here,
outside the timed loop; its output size (after padding to ``size``/``size_divisor``) is recorded
as ``model_input_shape``. detectron2 models normalise and pad inside their forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence

import numpy as np
import torch


@dataclass
class BuiltModel:
    """A built model plus what the benchmark needs to feed it."""

    model: torch.nn.Module
    framework: str  # 'mmseg' | 'mmdet' | 'detectron2'
    task: str  # the predictor's words: 'semantic' | 'instance' | 'semantic+instance' (panoptic FPN)
    num_classes: int
    config: str
    extra: dict = field(default_factory=dict)


def image_channels(model: torch.nn.Module) -> int:
    """Channels of the images ``model`` takes: those of the first convolution of its backbone
    (detectron2's FPN wraps its network as ``bottom_up``), e.g. 1 for the grey ISBI UNet."""
    backbone = getattr(model.backbone, "bottom_up", model.backbone)
    for m in backbone.modules():
        if isinstance(m, torch.nn.Conv2d):
            return m.in_channels
    raise ValueError(f"{type(backbone).__name__} has no Conv2d to read the input channels from")


def _synthetic_batch(built: BuiltModel, batch: int, shape: Sequence[int]):
    """``batch`` samples of the synthetic shapes at ``shape``: (image uint8 HWC, label, instances);
    the image is RGB, or grey (H, W, 1) for a model that takes one channel."""
    from PIL import Image

    from segclassics.datasets.synthetic import render_sample

    samples = [render_sample(0, "train", i, tuple(shape)) for i in range(batch)]
    channels = image_channels(built.model)
    if channels == 3:
        return samples
    if channels != 1:
        raise ValueError(f"{built.config}: synthetic images are RGB or grey; the model takes {channels} channels")
    return [
        (np.array(Image.fromarray(image).convert("L"))[..., None], label, instances)
        for image, label, instances in samples
    ]


def _boxes(mask: np.ndarray) -> List[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def make_mmseg_inputs(built: BuiltModel, batch: int, shape: Sequence[int], device: str) -> dict:
    """mmseg: ``dict(inputs, data_samples)`` after the model's ``data_preprocessor``."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    inputs, samples = [], []
    for image, label, _ in _synthetic_batch(built, batch, shape):
        label = label.astype(np.int64)
        label[label != 255] %= built.num_classes
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.from_numpy(label)[None])
        s.set_metainfo(dict(img_shape=tuple(shape), ori_shape=tuple(shape), pad_shape=tuple(shape)))
        inputs.append(
            torch.from_numpy(np.ascontiguousarray(image[..., ::-1])).permute(2, 0, 1)
        )  # BGR like cv2 (grey: as is)
        samples.append(s)
    return _preprocess(built, dict(inputs=inputs, data_samples=samples), device)


def make_mmdet_inputs(built: BuiltModel, batch: int, shape: Sequence[int], device: str) -> dict:
    """mmdet: ``DetDataSample`` with gt boxes, labels and bitmap masks, then the data_preprocessor."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    h, w = int(shape[0]), int(shape[1])
    inputs, samples = [], []
    for image, _, instances in _synthetic_batch(built, batch, shape):
        masks = np.stack([m for _, m in instances]) if instances else np.zeros((0, h, w), bool)
        gt = InstanceData()
        gt.bboxes = torch.tensor([_boxes(m) for m in masks], dtype=torch.float32).reshape(-1, 4)
        gt.labels = torch.tensor([(c - 1) % built.num_classes for c, _ in instances], dtype=torch.long)
        gt.masks = BitmapMasks(masks.astype(np.uint8), h, w)
        s = DetDataSample()
        s.gt_instances = gt
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
        inputs.append(torch.from_numpy(np.ascontiguousarray(image[..., ::-1])).permute(2, 0, 1))
        samples.append(s)
    return _preprocess(built, dict(inputs=inputs, data_samples=samples), device)


def _preprocess(built: BuiltModel, data: dict, device: str) -> dict:
    """Run the mm data_preprocessor once per mode; returns {'train': data, 'test': data}."""
    import copy

    out = {}
    with torch.no_grad():
        for mode, training in (("train", True), ("test", False)):
            out[mode] = built.model.data_preprocessor(copy.deepcopy(data), training)
    built.extra["model_input_shape"] = list(out["test"]["inputs"].shape[-2:])
    built.extra["train_model_input_shape"] = list(out["train"]["inputs"].shape[-2:])
    return out


def make_detectron2_inputs(built: BuiltModel, batch: int, shape: Sequence[int], device: str) -> dict:
    """detectron2: list of dicts with ``image`` (CHW float, RGB/BGR as uint8 values), ``sem_seg``
    and/or ``instances`` (gt_boxes, gt_classes, gt_masks as BitMasks)."""
    from detectron2.structures import BitMasks, Boxes, Instances

    h, w = int(shape[0]), int(shape[1])
    nc_things = max(int(built.extra.get("num_thing_classes") or 1), 1)
    items = []
    for image, label, instances in _synthetic_batch(built, batch, shape):
        d = dict(
            image=torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().to(device), height=h, width=w
        )
        if "semantic" in built.task.split("+"):
            lab = label.astype(np.int64)
            lab[lab != 255] %= built.num_classes
            d["sem_seg"] = torch.from_numpy(lab).to(device)
        if "instance" in built.task.split("+"):
            inst = Instances((h, w))
            masks = np.stack([m for _, m in instances]) if instances else np.zeros((0, h, w), bool)
            inst.gt_boxes = Boxes(torch.tensor([_boxes(m) for m in masks], dtype=torch.float32).reshape(-1, 4))
            inst.gt_classes = torch.tensor([(c - 1) % nc_things for c, _ in instances], dtype=torch.long)
            inst.gt_masks = BitMasks(torch.from_numpy(masks))
            d["instances"] = inst.to(device)
        items.append(d)
    built.extra["model_input_shape"] = [h, w]
    return dict(train=items, test=items)


INPUT_BUILDERS = dict(mmseg=make_mmseg_inputs, mmdet=make_mmdet_inputs, detectron2=make_detectron2_inputs)


def _backend(built: BuiltModel):
    from .backends import backend_for

    return backend_for(built.config)


def batch_for(built: BuiltModel, batch: int, shape: Sequence[int], device: str) -> dict:
    """The synthetic batch of ``built``'s framework (its backend's ``benchmark_inputs``)."""
    return _backend(built).benchmark_inputs(built, batch, shape, device)


def forward_fns(built: BuiltModel, data: dict):
    """(inference_fn, loss_fn) closures for the framework (its backend's ``forward_fns``)."""
    return _backend(built).forward_fns(built, data)
