"""``segclassics.utils.amp``: what ``--amp`` means on each device (float16 on CUDA, bfloat16 on CPU)."""

from __future__ import annotations

import torch

from segclassics.utils.amp import amp_autocast, amp_dtype


def test_amp_dtype_per_device():
    assert amp_dtype("cuda") == torch.float16
    assert amp_dtype("cpu") == torch.bfloat16


def test_amp_autocast_on_cpu():
    x = torch.randn(4, 8)
    w = torch.randn(8, 3)
    with amp_autocast("cpu"):
        assert (x @ w).dtype == torch.bfloat16
    with amp_autocast("cpu", enabled=False):
        assert (x @ w).dtype == torch.float32
    with amp_autocast("cpu", torch.float16):
        assert (x @ w).dtype == torch.float16
