"""mmengine's checkpoints and ``last_checkpoint`` written by :mod:`segclassics.utils.writer`.

mmengine 0.10.7 writes a checkpoint with ``torch.save`` into memory and then ``put``s the bytes
under the final name, and ``last_checkpoint`` with a plain ``open(..., 'w')``: a full disk leaves a
partial ``iter_N.pth`` behind (and a traceback), a second run into the same work dir overwrites
the first one's files without a word. Importing this module (with ``segclassics.openmmlab``)
routes both through the writer: atomic (temporary file + rename), never over a file this run did
not create or adopt, one line for a full disk.
"""

from __future__ import annotations

import builtins

import torch
from mmengine.hooks import checkpoint_hook
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner import runner as mm_runner

from segclassics.utils.writer import open_for_write

_original_save_checkpoint = mm_checkpoint.save_checkpoint


def save_checkpoint(checkpoint, filename, file_client_args=None, backend_args=None):
    """mmengine's ``save_checkpoint``; local files through the writer, other backends (``s3://``,
    ``pavi://``) as mmengine writes them."""
    if "://" in str(filename) or file_client_args or backend_args:
        return _original_save_checkpoint(checkpoint, filename, file_client_args, backend_args)
    with open_for_write(str(filename)) as f:
        torch.save(checkpoint, f)


def _open(file, mode="r", *args, **kwargs):
    """``open`` as ``CheckpointHook`` sees it: its ``last_checkpoint`` write goes to the writer."""
    if isinstance(file, str) and ("w" in mode or "a" in mode) and file.endswith("last_checkpoint"):
        return open_for_write(file, mode)
    return builtins.open(file, mode, *args, **kwargs)


mm_checkpoint.save_checkpoint = save_checkpoint
mm_runner.save_checkpoint = save_checkpoint  # Runner.save_checkpoint calls the name it imported
checkpoint_hook.open = _open  # the hook's module-level `open` (only last_checkpoint writes change)
