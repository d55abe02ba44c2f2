"""Image / tile sizes given as an int (square) or an ``(H, W)`` pair."""

from __future__ import annotations

from typing import Sequence, Tuple, Union

__all__ = ["Size", "pair"]

Size = Union[int, Sequence[int]]


def pair(size: Size, what: str = "size") -> Tuple[int, int]:
    """``7 -> (7, 7)``, ``(5, 6) -> (5, 6)``; anything else raises a ``ValueError`` naming ``what``."""
    if isinstance(size, int):
        return size, size
    values = tuple(size)
    if len(values) != 2:
        raise ValueError(f"{what} must be an int or a pair (H, W), got {size!r}")
    return int(values[0]), int(values[1])
