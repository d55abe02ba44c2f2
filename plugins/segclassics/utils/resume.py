"""Which checkpoint ``--resume`` continues from, when a run may have been killed at any moment,
its work dir renamed, or its folder holds weights-only files next to its checkpoints.

mmengine (``CheckpointHook``) and detectron2 (``PeriodicCheckpointer``) both write a checkpoint,
then ``<work_dir>/last_checkpoint`` with its name (mmengine: an absolute path). Neither file is
trusted blindly:

* **complete**: torch's checkpoints are zip archives whose central directory is written last, so
  a file that opens as a zip archive was written to the end (a kill mid-write leaves one that
  does not);
* **a training checkpoint**: ``last_weights.pth``, ``best_weights.pth`` and published files hold
  weights only; resuming from one fails deep inside the frameworks (mmengine:
  ``KeyError: 'message_hub'``, detectron2: ``'initial_lr'``). A training checkpoint names
  mmengine's ``message_hub`` or detectron2's ``iteration``; the pickle's text is searched for
  those keys without unpickling anything.

:func:`resume_checkpoint` is the one decision: the file ``last_checkpoint`` names if it is both
(looked up in the work dir itself when the work dir was renamed), otherwise the newest such file
of the folder; a work dir with none, or a file given that is not one, is refused with one line
saying what would be right. A resume never starts a training from scratch.
"""

from __future__ import annotations

import os
import zipfile
from typing import Optional

from segclassics.errors import UserError

__all__ = [
    "ResumeError",
    "is_complete_checkpoint",
    "holds_training_state",
    "newest_complete_checkpoint",
    "resume_checkpoint",
]

#: File names a work dir's checkpoints have (mmengine: iter_N / epoch_N / best_*; detectron2:
#: model_NNNNNNN / model_final).
CHECKPOINT_SUFFIXES = (".pth",)
#: Keys only a training checkpoint has, as pickle protocol 2 (torch.save) writes a str key.
TRAINING_STATE_KEYS = tuple(b"X" + len(k).to_bytes(4, "little") + k for k in (b"message_hub", b"iteration"))


class ResumeError(UserError, RuntimeError):
    """``--resume`` has nothing it can continue from (one line saying what would be right)."""


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


def holds_training_state(path: str) -> bool:
    """Whether the complete checkpoint ``path`` holds a training's state (mmengine's message hub
    or detectron2's iteration), read from its pickle's bytes without unpickling."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            data = archive.read(name) if name else b""
    except (zipfile.BadZipFile, OSError):
        with open(path, "rb") as f:
            data = f.read(1 << 20)  # a legacy file: the keys come before the tensors' bytes
    return any(key in data for key in TRAINING_STATE_KEYS)


def _named_in_last_checkpoint(work_dir: str) -> Optional[str]:
    try:
        with open(os.path.join(work_dir, "last_checkpoint")) as f:
            name = f.read().strip()
    except OSError:
        return None
    if not name:
        return None
    here = os.path.join(work_dir, os.path.basename(name))
    if (
        os.path.isabs(name)
        and os.path.dirname(os.path.abspath(name)) != os.path.abspath(work_dir)
        and os.path.isfile(here)
    ):
        return here  # the work dir was renamed or copied: its own file, not the old folder's
    return name if os.path.isabs(name) else os.path.join(work_dir, name)


def _resumable(path: str) -> bool:
    return is_complete_checkpoint(path) and holds_training_state(path)


def newest_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume from in ``work_dir``, or None: the one ``last_checkpoint`` names
    when it is complete and a training checkpoint, otherwise the newest such ``*.pth`` of the folder."""
    named = _named_in_last_checkpoint(work_dir)
    if named is not None and _resumable(named):
        return named
    try:
        names = [n for n in os.listdir(work_dir) if n.endswith(CHECKPOINT_SUFFIXES)]
    except OSError:
        return None
    paths = sorted((os.path.join(work_dir, n) for n in names), key=os.path.getmtime, reverse=True)
    return next((p for p in paths if _resumable(p)), None)


WEIGHTS_ONLY_HINT = (
    "to start a new training from these weights, give it as the starting point instead "
    "(load_from=FILE for mmengine configs, train.init_checkpoint=FILE / MODEL.WEIGHTS FILE for "
    "detectron2)"
)


def resume_checkpoint(work_dir: str, requested: str = "auto", trusted: bool = False) -> str:
    """The checkpoint ``--resume`` (``requested``: 'auto' or a file) continues from; raises
    :class:`ResumeError` when there is none (see the module docstring). A file given is read
    once first (:func:`segclassics.utils.reader.read_checkpoint`: a file that asks to run code is
    refused as such; ``trusted``: the tool's ``--trust-checkpoint``)."""
    if requested != "auto":
        if not os.path.isfile(requested):
            raise ResumeError(f"--resume {requested}: no such checkpoint file")
        if not is_complete_checkpoint(requested):
            raise ResumeError(
                f"--resume {requested}: the file is incomplete (cut off while it was written); resume "
                f"from an earlier checkpoint"
            )
        from .reader import read_checkpoint

        read_checkpoint(requested, trusted=trusted, map_location="meta" if not trusted else "cpu")
        if not holds_training_state(requested):
            raise ResumeError(
                f"--resume {requested}: the file holds weights only (no optimizer state or iteration), "
                f"so a training cannot continue from it; {WEIGHTS_ONLY_HINT}"
            )
        return requested
    if not os.path.isdir(work_dir):
        raise ResumeError(
            f"--resume: the work dir {work_dir} does not exist, so there is nothing to continue; give "
            f"the --work-dir of the run to continue, or drop --resume to start a new training"
        )
    found = newest_complete_checkpoint(work_dir)
    if found is None:
        others = sorted(n for n in os.listdir(work_dir) if n.endswith(CHECKPOINT_SUFFIXES))
        held = (
            f" (it holds {', '.join(others[:3])}{' ...' if len(others) > 3 else ''}: weights only or incomplete)"
            if others
            else ""
        )
        raise ResumeError(
            f"--resume: the work dir {work_dir} holds no training checkpoint to continue from{held}; "
            f"give the --work-dir of the run to continue, or drop --resume to start a new training"
        )
    return found
