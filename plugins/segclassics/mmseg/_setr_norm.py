"""mmcv ``norm_cfg`` -> the ``norm`` of ``segclassics.models`` (a helper of the SETR adapters,
not a registered class)."""

from __future__ import annotations

from ..models.norm import check_norm


def norm_kind(norm_cfg) -> str:
    """``dict(type='BN' | 'BN2d' | 'SyncBN' | 'GN', requires_grad=True)`` -> ``'BN'`` / ``'SyncBN'`` /
    ``'GN'`` (``None``: ``'BN'``, mmseg's ``SETRUPHead`` default). 'SyncBN' builds
    ``nn.SyncBatchNorm`` (mmengine's runner turns it into BatchNorm when not distributed).
    Options the models do not implement (frozen norms, other group counts) are refused."""
    cfg = dict(norm_cfg or {})
    kind = cfg.pop("type", "BN")
    kind = "BN" if kind == "BN2d" else kind
    if cfg.pop("requires_grad", True) is not True:
        raise ValueError(f"norm_cfg={norm_cfg!r}: SETR heads train their norm layers; requires_grad must be True")
    if kind == "GN" and cfg.pop("num_groups", 32) != 32:
        raise ValueError(f"norm_cfg={norm_cfg!r}: SETR heads use 32 groups for GN")
    if cfg:
        raise ValueError(f"norm_cfg={norm_cfg!r}: unsupported keys {sorted(cfg)} (give type and requires_grad)")
    if kind is None:
        raise ValueError("SETR heads need a norm layer: norm_cfg type must be 'BN', 'SyncBN' or 'GN'")
    return check_norm(kind, "norm_cfg type")
