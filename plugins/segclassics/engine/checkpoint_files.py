"""Which checkpoint ``--resume`` continues from, when a run may have been killed at any moment.

mmengine (``CheckpointHook``) and detectron2 (``PeriodicCheckpointer``) both write a checkpoint
file in place, then rewrite ``<work_dir>/last_checkpoint`` with its name. A run killed while
writing the checkpoint leaves a partial file that ``last_checkpoint`` does not name yet, so the
frameworks resume from the previous one; but a run killed while ``last_checkpoint`` itself is
being rewritten leaves it empty, and then mmengine fails on the path ``''`` and detectron2 tries
to load the work directory. :func:`newest_complete_checkpoint` chooses without trusting either
file blindly: the checkpoint ``last_checkpoint`` names if it is complete, otherwise the newest
complete one in the folder. Our own writers avoid partial files (:mod:`segclassics.utils.writer`).

"Complete" is judged cheaply: torch's checkpoints are zip archives whose central directory is
written last, so a file that opens as a zip archive was written to the end.
"""
from __future__ import annotations

import os
import zipfile
from typing import Mapping, Optional

from .errors import UserError

__all__ = ["is_complete_checkpoint", "newest_complete_checkpoint", "first_non_finite",
           "NonFiniteWeightsError"]

#: File names ``newest_complete_checkpoint`` considers (mmengine: iter_N / epoch_N / best_*;
#: detectron2: model_NNNNNNN / model_final).
CHECKPOINT_SUFFIXES = (".pth",)


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a fully written torch checkpoint (a zip archive with its central
    directory; torch's legacy non-zip format is taken as complete, as there is no cheap test)."""
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return False
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        return magic[:1] == b"\x80"  # a legacy pickle starts with the PROTO opcode
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _named_in_last_checkpoint(work_dir: str) -> Optional[str]:
    try:
        with open(os.path.join(work_dir, "last_checkpoint")) as f:
            name = f.read().strip()
    except OSError:
        return None
    if not name:
        return None
    return name if os.path.isabs(name) else os.path.join(work_dir, name)


def newest_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume from in ``work_dir``, or None if there is none.

    The one ``last_checkpoint`` names when it is complete; otherwise (``last_checkpoint`` missing,
    empty, or naming a partial file) the most recently written complete ``*.pth`` of the folder.
    """
    named = _named_in_last_checkpoint(work_dir)
    if named is not None and is_complete_checkpoint(named):
        return named
    try:
        names = [n for n in os.listdir(work_dir) if n.endswith(CHECKPOINT_SUFFIXES)]
    except OSError:
        return None
    paths = sorted((os.path.join(work_dir, n) for n in names), key=os.path.getmtime, reverse=True)
    return next((p for p in paths if is_complete_checkpoint(p)), None)


class NonFiniteWeightsError(UserError):
    """A model about to be saved has infinite or NaN weights (the training diverged)."""

    def __init__(self, iteration: int, name: str, hint: str = ""):
        super().__init__(f"training stopped: the weights became infinite or NaN by iteration {iteration} (e.g. {name}); "
                         f"the checkpoint due then was not written. Lower the learning rate or check the data{hint}")


def first_non_finite(state_dict: Mapping) -> Optional[str]:
    """The name of the first floating-point tensor of ``state_dict`` holding an infinity or a NaN,
    or None. Checkpoint writers call it so that a diverged model is never saved as the newest
    checkpoint (one pass over the weights, at checkpoint time only)."""
    import torch
    for name, value in state_dict.items():
        if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name
    return None
