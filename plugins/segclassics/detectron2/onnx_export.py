"""ONNX export of detectron2 Mask R-CNN (``GeneralizedRCNN``) with detectron2's own tracing export.

What detectron2's ``tools/deploy/export_model.py --export-method tracing --format onnx`` does:
:class:`detectron2.export.TracingAdapter` flattens ``model.inference(inputs,
do_postprocess=False)`` (one image in, ``Instances`` out) into tensors, and torch.onnx's
TorchScript exporter traces it. The graph takes one ``(3, H, W)`` float image of 0..255 pixels
in the config's channel order (the model normalises and pads to its size divisibility inside)
and returns, for the ``D`` detections, ``boxes (D, 4)`` (x0, y0, x1, y1 in input pixels),
``classes (D,)`` int64, ``masks (D, 1, M, M)`` mask probabilities in each box (M = 28; paste
them into the image with ``detectron2.layers.paste_masks_in_image``), ``scores (D,)`` and
``image_size (2,)``. ``D`` varies with the image (score threshold, NMS); ``H`` and ``W`` are
dynamic.

Opset 16: the first whose ``RoiAlign`` has ``coordinate_transformation_mode='half_pixel'``,
which detectron2's ``ROIAlignV2`` (``aligned=True``) needs. The dynamo exporter cannot take
this model: ``torch.export`` stops at a branch on tensor values in detectron2's
``find_top_rpn_proposals`` (``if not valid_mask.all():``, GuardOnDataDependentSymNode).
"""

from __future__ import annotations

from typing import List, Tuple

import torch
from detectron2.export import TracingAdapter
from detectron2.modeling import GeneralizedRCNN

OPSET = 16


def is_mask_rcnn(model: torch.nn.Module) -> bool:
    return isinstance(model, GeneralizedRCNN) and getattr(model.roi_heads, "mask_on", False)


def _inference(model, inputs):
    return [{"instances": model.inference(inputs, do_postprocess=False)[0]}]


def tracing_adapter(model: GeneralizedRCNN, image: torch.Tensor) -> Tuple[TracingAdapter, List[str]]:
    """The adapter (eval mode) for ``(3, H, W)`` images and the names of its flattened outputs."""
    model.eval()
    adapter = TracingAdapter(model, [{"image": image}], _inference).eval()
    with torch.no_grad():
        adapter(image)  # fills outputs_schema
    fields = adapter.outputs_schema.schemas[0].schemas[0].keys  # Instances fields, sorted by name
    return adapter, [k.replace("pred_", "") for k in fields] + ["image_size"]


def export_mask_rcnn(model: GeneralizedRCNN, path: str, image: torch.Tensor) -> Tuple[TracingAdapter, List[str]]:
    """Trace and export; returns the adapter (to compare against) and the output names."""
    adapter, names = tracing_adapter(model, image)
    dynamic = {"image": {1: "height", 2: "width"}, **{n: {0: "detections"} for n in names[:-1]}}
    torch.onnx.export(
        adapter,
        (image,),
        path,
        dynamo=False,
        opset_version=OPSET,
        input_names=["image"],
        output_names=names,
        dynamic_axes=dynamic,
    )
    adapter.eval()  # the exporter restores the training flag it found; keep inference mode
    return adapter, names
