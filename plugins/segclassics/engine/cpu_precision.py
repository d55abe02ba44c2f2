"""Mixed precision and memory format on CPUs: bf16 autocast only where the CPU runs it fast.

``--amp`` without a GPU means bf16 autocast. oneDNN runs bf16 convolutions and matrix products in
hardware on CPUs with AVX-512 (BF16/VNNI) or AMX; on an AVX2-only CPU it falls back to reference
kernels. Measured on a 2-core AMD EPYC CPU whose torch reports ``AVX2``: a 3x3 convolution
training step at 5-10 % of its fp32 speed and a 2048^3 matrix product at 0.05 against 34 GFLOP/s.
So ``--amp`` on such a CPU is refused with one line instead of making a run many times slower.

Channels-last (NHWC) memory format is what oneDNN's bf16 kernels are fastest with; in fp32 it helps
on some CPUs and not on others (same AVX2 machine: 0.8-1.1x of NCHW), so it is an option
(``--channels-last``) and on by default only together with CPU ``--amp``.

Master weights, optimizer state and losses stay fp32: autocast only runs the listed matrix ops in
bf16 (the weights are cast per use), and our heads compute their losses on fp32 logits.
"""

from __future__ import annotations

import torch

from ..errors import UserError


def cpu_bf16_supported() -> bool:
    """Whether oneDNN runs bf16 kernels natively on this CPU (AVX-512 BW/VL/DQ or newer)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return torch.backends.cpu.get_cpu_capability() not in ("DEFAULT", "NO AVX", "AVX", "AVX2")


def require_cpu_bf16(option: str = "--amp") -> None:
    """Raise :class:`UserError` when bf16 autocast would run slowly on this CPU."""
    if not cpu_bf16_supported():
        raise UserError(
            f"{option} on this CPU: it has no native bfloat16 support (torch reports CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}; bf16 needs AVX-512 or AMX), so bf16 autocast "
            f"would run several times slower than fp32; run without {option}"
        )


def to_channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Store the model's 4-d parameters and buffers channels-last; convolutions then produce
    channels-last outputs from any input, and the rest of the network follows."""
    return model.to(memory_format=torch.channels_last)
