"""Helpers shared by the SETR head adapters (not a registered class)."""
from __future__ import annotations

import torch.distributed as dist
from torch import nn


def norm_kind(norm_cfg) -> str:
    """mmseg ``norm_cfg`` -> the ``norm`` argument of ``segclassics.models.setr_heads``."""
    kind = (norm_cfg or {}).get('type', 'BN')
    if kind not in ('BN', 'SyncBN', 'GN', 'BN2d'):
        raise ValueError(f"SETR heads support norm_cfg types BN, SyncBN, GN; got {kind!r}")
    return 'BN' if kind == 'BN2d' else kind


def maybe_sync_bn(module: nn.Module, norm_cfg) -> nn.Module:
    """Convert BatchNorm to SyncBatchNorm when asked for and a process group exists
    (single-process runs keep BatchNorm, as mmengine's ``revert_sync_batchnorm`` would)."""
    if (norm_cfg or {}).get('type') == 'SyncBN' and dist.is_available() and dist.is_initialized():
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module
