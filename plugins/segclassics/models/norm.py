"""The one normalisation vocabulary of :mod:`segclassics.models`.

Every ``norm`` argument takes the layer names that mmcv's ``norm_cfg['type']`` and
detectron2's ``get_norm`` use:

* ``None`` -- no normalisation (the paper UNet; convs keep their bias);
* ``'BN'`` -- ``nn.BatchNorm2d``;
* ``'SyncBN'`` -- ``nn.SyncBatchNorm``: batch statistics over all processes of a distributed
  run. In a single process it computes exactly what ``'BN'`` does; in a distributed run torch
  requires GPU inputs and refuses CPU ones with an error (it never falls back to per-process
  statistics). mmengine's runner turns it into BatchNorm for non-distributed runs itself;
* ``'GN'`` -- ``nn.GroupNorm`` with 32 groups (Wu & He, ECCV 2018, Sec. 3.1 default), or one
  group when the channels are not a multiple of 32.
"""

from __future__ import annotations

from typing import Optional

from torch import nn

__all__ = ["NORMS", "check_norm", "build_norm"]

NORMS = (None, "BN", "SyncBN", "GN")


def check_norm(norm: Optional[str], where: str = "norm") -> Optional[str]:
    """Return ``norm`` if it is in :data:`NORMS`, else raise a ``ValueError`` naming the choices."""
    if norm not in NORMS:
        raise ValueError(f"{where} must be one of None, 'BN', 'SyncBN', 'GN', got {norm!r}")
    return norm


def build_norm(norm: Optional[str], channels: int, *, momentum: float = 0.1) -> Optional[nn.Module]:
    """The normalisation layer for ``channels`` feature maps, or ``None`` for ``norm=None``.

    ``momentum`` is the running-statistics momentum of ``'BN'`` / ``'SyncBN'``.
    """
    check_norm(norm)
    if norm == "BN":
        return nn.BatchNorm2d(channels, momentum=momentum)
    if norm == "SyncBN":
        return nn.SyncBatchNorm(channels, momentum=momentum)
    if norm == "GN":
        return nn.GroupNorm(32 if channels % 32 == 0 else 1, channels)
    return None
