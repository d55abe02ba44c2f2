"""mmengine checkpoints under torch's ``weights_only`` loading.

mmengine 0.10.7 pickles its message hub (``HistoryBuffer`` objects with numpy arrays) into every
training checkpoint and calls ``torch.load`` without choosing ``weights_only``; since torch 2.6 that
means weights-only, which refuses those objects. Rather than switching the safety off
(``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``), exactly the classes such checkpoints hold are allow-listed
(:func:`segclassics.utils.checkpoint.allow_mmengine_checkpoints`, done when this package is
imported, so mmseg's ``init_model`` and mmdet's ``init_detector`` read our training checkpoints).

:func:`use_checked_local_loader` makes mmengine's loader for local files (``load_from``,
``--resume``) go through :func:`segclassics.utils.checkpoint.load_checkpoint_file`: the same
safety, plus one clear message for a refused or unreadable file, and the explicit opt-in for
trusted legacy files.
"""
from __future__ import annotations

import functools

from mmengine.runner.checkpoint import CheckpointLoader

from segclassics.utils.checkpoint import allow_mmengine_checkpoints, load_checkpoint_file

allow_mmengine_checkpoints()


def load_from_local_checked(filename: str, map_location=None, *, trusted: bool = False):
    """mmengine ``CheckpointLoader`` scheme for local paths (the name's ``load_from_`` prefix is
    what mmengine strips when it logs the backend)."""
    return load_checkpoint_file(filename, trusted=trusted, map_location=map_location or "cpu")


def use_checked_local_loader(trusted: bool = False) -> None:
    """Route mmengine's local checkpoint loads through :func:`load_from_local_checked`."""
    loader = functools.update_wrapper(functools.partial(load_from_local_checked, trusted=trusted),
                                      load_from_local_checked)
    CheckpointLoader.register_scheme(prefixes="", loader=loader, force=True)
