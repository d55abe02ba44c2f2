"""Checks that a dataset is where a config expects it, with an actionable message."""

from __future__ import annotations

import os

from segclassics.errors import MissingFileError


class DatasetNotFoundError(MissingFileError):
    """A dataset folder or file a config points to does not exist."""


#: ``../shared/data`` beside the source checkout this package runs from: the default folder of the
#: real datasets (CamVid, ISBI 2012, VOC tiny) of the shipped configs and registered detectron2
#: datasets, the same from any current directory (the mmengine configs say it with
#: ``{{ fileDirname }}``, which mmengine replaces with the config file's folder).
_CHECKOUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, os.pardir)
SHARED_DATA = os.path.normpath(os.path.join(_CHECKOUT, os.pardir, "shared", "data"))


def shared_data(*parts: str) -> str:
    """``SHARED_DATA/<parts>``: e.g. ``shared_data("camvid")``."""
    return os.path.join(SHARED_DATA, *parts)


#: How to point an mmengine (mmseg/mmdet) config at another copy of its data.
MMENGINE_RELOCATE = "or point the config at your copy with --cfg-options data_root=DIR (every dataloader)"


def require_path(path: str, dataset: str, how_to_get: str, relocate: str = MMENGINE_RELOCATE) -> str:
    """Return ``path`` if it exists, else raise :class:`DatasetNotFoundError`.

    Args:
        path: folder or file the config expects.
        dataset: human name, e.g. ``'CamVid'``.
        how_to_get: one sentence telling the user which converter or download makes it,
            e.g. ``'run: python -m segclassics.tools.dataset_converters.camvid RAW_DIR data/camvid'``.
        relocate: how to use a copy elsewhere, in the syntax of the framework that reads it
            (default: mmengine's ``--cfg-options``; detectron2 callers name their override or
            environment variable); ``''`` adds nothing.
    """
    if not os.path.exists(path):
        tail = f" ({relocate})." if relocate else ""
        raise DatasetNotFoundError(f"{dataset} data not found: expected {os.path.abspath(path)!r}. {how_to_get}{tail}")
    return path
