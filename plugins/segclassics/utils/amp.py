"""``--amp`` in one place: the autocast every segclassics run, prediction and benchmark enters.

On CUDA, mixed precision means float16 (training adds loss scaling: mmengine's ``AmpOptimWrapper``,
detectron2's ``AMPTrainer``); on CPU it means bfloat16, which needs no loss scaling and which
oneDNN runs fast only on CPUs with AVX-512 bf16 or AMX (``segclassics.engine.cpu_precision``
refuses the others). Master weights, optimizer state and losses stay float32.
"""

from __future__ import annotations

import contextlib
from typing import Optional

import torch

#: ``--amp``'s dtype per device type: float16 on CUDA, bfloat16 elsewhere (the CPU)
AMP_DTYPES = {"cuda": torch.float16}


def amp_dtype(device_type: str) -> torch.dtype:
    """The dtype ``--amp`` means on ``device_type`` ('cuda' -> float16, 'cpu' -> bfloat16)."""
    return AMP_DTYPES.get(device_type, torch.bfloat16)


def amp_autocast(device_type: str, dtype: Optional[torch.dtype] = None, enabled: bool = True):
    """``torch.autocast(device_type, dtype)``, ``dtype`` defaulting to :func:`amp_dtype`;
    a null context when not ``enabled`` (full precision)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=dtype or amp_dtype(device_type))
