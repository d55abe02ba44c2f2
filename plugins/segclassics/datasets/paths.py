"""Checks that a dataset is where a config expects it, with an actionable message."""
from __future__ import annotations

import os


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder or file a config points to does not exist."""


def require_path(path: str, dataset: str, how_to_get: str) -> str:
    """Return ``path`` if it exists, else raise :class:`DatasetNotFoundError`.

    Args:
        path: folder or file the config expects.
        dataset: human name, e.g. ``'CamVid'``.
        how_to_get: one sentence telling the user which converter or download makes it,
            e.g. ``'run: python tools/dataset_converters/camvid.py RAW_DIR data/camvid'``.
    """
    if not os.path.exists(path):
        raise DatasetNotFoundError(
            f"{dataset} data not found: expected {os.path.abspath(path)!r}. {how_to_get} "
            f"(or point the config's data_root at your copy with "
            f"--cfg-options train_dataloader.dataset.data_root=... ).")
    return path
