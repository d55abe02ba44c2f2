"""``RandomStateHook``: a resumed mmengine training draws the random numbers an uninterrupted one does.

mmengine's ``--resume`` restores the weights, the optimizer, the schedulers and the iteration, but
not the random generators, which the model (dropout, drop-path, Mask R-CNN's proposal sampling:
torch) and the data pipeline (flips, crops: numpy, Python; re-creating an exhausted dataloader:
torch) draw from, so a resumed run diverges from an uninterrupted one.

This hook writes the generators' states (torch CPU and, when used, CUDA; numpy; Python's
``random``) into each checkpoint, as runtime information of the message hub, which mmengine saves
and resumes, together with the iteration they belong to. On resuming from that checkpoint it puts
them back at the point where the uninterrupted run stood when it saved: ``IterBasedTrainLoop``
first re-reads the batches already trained (``next`` on its dataloader iterator once per
iteration, which also draws random numbers), so the states are restored right after that replay,
through a thin wrapper around the loop's ``dataloader_iterator`` that counts the replayed batches
(mmengine 0.10's loop; an epoch-based loop resumes at an epoch start and is restored at once).

Single-process runs only (each rank has its own states; the checkpoint holds rank 0's).
Registered in mmengine's root ``HOOKS``; ``enable_random_state_checkpoints(cfg)`` adds it.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import IterBasedTrainLoop

__all__ = ["RandomStateHook", "enable_random_state_checkpoints"]

KEY = "random_states"


def _capture(iteration: int) -> dict:
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = dict(
        iter=iteration,
        torch=torch.get_rng_state(),
        numpy=dict(
            keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos), has_gauss=int(has_gauss), gauss=float(gauss)
        ),
        python=dict(version=version, internal=list(internal), gauss_next=gauss_next),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))


class _RestoreAfterReplay:
    """Passes ``next`` through to the loop's iterator; after ``replayed`` calls (the batches the
    loop re-reads when resuming) restores the saved random states."""

    def __init__(self, iterator, replayed: int, state: dict):
        self.iterator, self.remaining, self.state = iterator, replayed, state
        if replayed == 0:
            self._restore()

    def _restore(self) -> None:
        if self.state is not None:
            _restore(self.state)
            self.state = None

    def __iter__(self):
        return self

    def __next__(self):
        item = next(self.iterator)
        self.remaining -= 1
        if self.remaining == 0:
            self._restore()
        return item

    def __getattr__(self, name):
        return getattr(self.iterator, name)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save the random generators' states in checkpoints; restore them when training resumes."""

    priority = "VERY_LOW"

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get("message_hub")
        if hub is None or get_world_size() > 1:
            return
        hub["runtime_info"][KEY] = _capture((checkpoint.get("meta") or {}).get("iter", runner.iter))
        hub["resumed_keys"][KEY] = True

    def before_train_epoch(self, runner) -> None:
        state = runner.message_hub.pop_info(KEY)
        if state is None or state.get("iter") != runner.iter or runner.iter == 0 or get_world_size() > 1:
            return  # not resuming from a checkpoint of this iteration
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            loop.dataloader_iterator = _RestoreAfterReplay(loop.dataloader_iterator, runner.iter, state)
        else:
            _restore(state)


def enable_random_state_checkpoints(cfg) -> None:
    """Add :class:`RandomStateHook` to an mmengine ``cfg``'s ``custom_hooks`` (once)."""
    from .custom_hooks import add_custom_hook

    add_custom_hook(cfg, RandomStateHook)
