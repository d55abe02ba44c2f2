"""Export a module to ONNX with dynamic batch / height / width through ``torch.export``.

Exporter: torch.onnx's dynamo exporter (``torch.export`` + onnxscript's ATen library), not
the TorchScript one. Measured with torch 2.14.1 and onnxruntime 1.32.0 (docs/inference.md,
"Exporter and opset"): the TorchScript exporter records Python-side size logic as constants
(before our models dropped ``int()`` on sizes and took the every-size path while tracing, FCN's
crops, UNet's centre crops and SETR's patch grid), so such graphs fail at a second input size.
``torch.export`` keeps sizes symbolic and states the dynamic sizes as constraints we can check.

We call ``torch.export.export`` ourselves and hand the program to ``torch.onnx.export``:
given a module, torch.onnx retries failed exports with other strategies and may silently
produce a graph with *fixed* height/width. Here an export that cannot keep the declared
dimensions dynamic is an error, and :func:`check_dynamic_inputs` re-checks the traced input.

Opset 18 by default: the opset onnxscript's ATen library is written in (no version
conversion pass), run by onnxruntime >= 1.14.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Optional

import torch
from torch import nn

from .sizes import MAX_SIZE, SizeRule

DEFAULT_OPSET = 18
SUPPORTED_OPSETS = range(18, 24)  # what onnxscript 0.7 converts to; onnxruntime 1.32 runs up to 23
INPUT_NAME = "image"
MAX_BATCH = 1024


class ExportFailedError(RuntimeError):
    """torch.export could not trace the model with the declared dynamic sizes."""


def dynamic_shapes(rule: SizeRule, max_size: int = MAX_SIZE) -> Dict[int, object]:
    """``{0: batch, 2: height, 3: width}`` dimensions of the image input."""
    from torch.export import Dim

    return {
        0: Dim("batch", min=1, max=MAX_BATCH),
        2: rule.export_dim("height", max_size),
        3: rule.export_dim("width", max_size),
    }


def trace(module: nn.Module, example: torch.Tensor, rule: SizeRule) -> "torch.export.ExportedProgram":
    """``torch.export.export`` (non-strict) of ``module.eval()`` with dynamic batch/H/W."""
    module.eval()
    try:
        program = torch.export.export(module, (example,), dynamic_shapes=(dynamic_shapes(rule),), strict=False)
    except Exception as exc:  # noqa: BLE001 - torch.export raises many types; keep the first lines
        lines = [ln for ln in str(exc).splitlines() if ln.strip()][:6]
        raise ExportFailedError(
            f"torch.export failed for {type(module).__name__} with dynamic batch/height/"
            f"width ({rule.describe()}): " + " | ".join(lines)
        ) from exc
    check_dynamic_inputs(program)
    return program


def check_dynamic_inputs(program: "torch.export.ExportedProgram") -> None:
    """Raise if batch, height or width of the traced image input became a constant."""
    user_inputs = program.graph_signature.user_inputs
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user_inputs[0])
    shape = node.meta["val"].shape
    fixed = [
        axis
        for axis, d in zip(("batch", "channels", "height", "width"), shape)
        if axis != "channels" and not isinstance(d, torch.SymInt)
    ]
    if fixed:
        raise ExportFailedError(
            f"the traced graph fixed the {', '.join(fixed)} of the input to "
            f"{tuple(shape)}; a Python int() or branch on a size froze it"
        )


def export_onnx(
    module: nn.Module,
    path: str,
    example: torch.Tensor,
    rule: SizeRule,
    *,
    output_name: str = "logits",
    opset: int = DEFAULT_OPSET,
    metadata: Optional[Dict[str, object]] = None,
) -> str:
    """Export ``module`` (image -> one tensor) to ``path``; returns ``path``.

    ``example`` is a batch of at least 2 images of a valid, non-square size (sizes 0/1 and
    equal sides would be specialised by ``torch.export``). ``metadata`` goes into the model's
    ``metadata_props`` (values JSON-encoded unless they are strings).
    """
    if opset not in SUPPORTED_OPSETS:
        raise ValueError(f"opset {opset} is not supported; use {SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}")
    program = trace(module, example, rule)
    onnx_program = torch.onnx.export(
        program,
        (example,),
        dynamo=True,
        opset_version=opset,
        input_names=[INPUT_NAME],
        output_names=[output_name],
        external_data=False,
        optimize=True,
        verbose=False,
    )
    onnx_program.save(path, external_data=False)
    if metadata:
        add_metadata(path, metadata)
    return path


def add_metadata(path: str, metadata: Dict[str, object]) -> None:
    """Write ``metadata`` into the ONNX file's ``metadata_props`` and check the model."""
    import onnx

    model = onnx.load(path)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(model)
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


def read_metadata(path: str) -> Dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
