"""The channels a model receives from images normalised by a data preprocessor: shared by the
pre-run input checks of both frameworks (:mod:`segclassics.engine.data_check` for mmengine configs,
:mod:`segclassics.detectron2.run_checks` for detectron2's)."""

from __future__ import annotations

from typing import Optional

__all__ = ["broadcast_channels"]


def broadcast_channels(*sizes: int) -> Optional[int]:
    """The channels of ``(C, H, W)`` images broadcast against ``(N, 1, 1)`` vectors (a data
    preprocessor's ``(image - mean) / std``) for the sizes C, N, ...; None where torch's broadcast fails.

    >>> broadcast_channels(1, 3, 3), broadcast_channels(3, 1), broadcast_channels(1, 1), broadcast_channels(3, 2)
    (3, 3, 1, None)
    """
    wide = {size for size in sizes if size != 1}
    return None if len(wide) > 1 else next(iter(wide), 1)
