"""Mixed precision for mmengine runs on CPU.

mmengine's ``AmpOptimWrapper`` refuses to run without CUDA/NPU/MLU. On CPU, bfloat16
autocast needs no loss scaling, so this wrapper only enters ``torch.autocast('cpu',
bfloat16)`` around the forward pass (``optim_context``) and otherwise behaves like
``OptimWrapper``. ``tools/train.py --amp`` picks it when no GPU is present.
"""

from __future__ import annotations

from contextlib import contextmanager

from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

from ..utils.amp import amp_autocast


@OPTIM_WRAPPERS.register_module()
class CPUBF16AmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under ``torch.autocast('cpu', torch.bfloat16)``."""

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model), amp_autocast("cpu"):
            yield
