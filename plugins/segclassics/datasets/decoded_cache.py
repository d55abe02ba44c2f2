"""Decode each image and label file once per process: a bounded in-memory cache of decoded arrays.

The datasets the reproductions train on are small (CamVid 367 images, DRIVE 20, ISBI 30 slices)
and are read again every epoch; decoding a JPEG/PNG (and checking a label's values) each time is
work a training process can keep. The checked loaders of every framework
(``CheckedLoadImageFromFile``, ``CheckedLoadAnnotations``) look here first.

* Keys name the file *and its state* (path, modification time in ns, size) plus the decoding
  options, so a file changed on disk is decoded again.
* Values are read-only arrays; callers get a copy, so a transform that writes into its input
  cannot change the cache.
* The cache is per process (each DataLoader worker has its own) and bounded by
  ``SEGCLASSICS_DECODE_CACHE_MB`` (default 1024 MiB per process; 0 turns it off): once full,
  further files are decoded every time (nothing is evicted, so what is cached stays cached).
"""

from __future__ import annotations

import os
from typing import Hashable, Optional, Tuple

import numpy as np

DEFAULT_MB = 1024


def file_key(path: str, *options: Hashable) -> Optional[Tuple]:
    """``(path, mtime_ns, size, *options)`` for a regular local file, else None (not cached)."""
    try:
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    if not os.path.isfile(path):
        return None
    return (os.path.abspath(path), st.st_mtime_ns, st.st_size) + tuple(options)


class DecodedCache:
    """A size-bounded map from :func:`file_key` keys to read-only numpy arrays."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.used = 0
        self._items = {}

    def get(self, key: Optional[Tuple]) -> Optional[np.ndarray]:
        if key is None:
            return None
        hit = self._items.get(key)
        return None if hit is None else hit.copy()

    def put(self, key: Optional[Tuple], array: np.ndarray) -> None:
        if key is None or key in self._items or self.used + array.nbytes > self.max_bytes:
            return
        stored = np.array(array, copy=True)
        stored.setflags(write=False)
        self._items[key] = stored
        self.used += stored.nbytes

    def __len__(self) -> int:
        return len(self._items)


_CACHE: Optional[DecodedCache] = None


def decoded_cache() -> DecodedCache:
    """This process's cache (created on first use, sized by ``SEGCLASSICS_DECODE_CACHE_MB``)."""
    global _CACHE
    if _CACHE is None:
        mb = os.environ.get("SEGCLASSICS_DECODE_CACHE_MB", str(DEFAULT_MB))
        try:
            budget = max(0, int(float(mb) * 2**20))
        except ValueError:
            raise ValueError(
                f"SEGCLASSICS_DECODE_CACHE_MB={mb!r}: give a number of MiB (0 turns the cache off)"
            ) from None
        _CACHE = DecodedCache(budget)
    return _CACHE
