"""``broadcast_buffers``: every process of a run takes process 0's buffers before an evaluation.

Plain ``torch.distributed``, so that the mmengine hook and the detectron2 trainers share it."""

from __future__ import annotations

import torch


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Give every process rank 0's buffers (batch norm's running statistics) before an evaluation.

    DDP broadcasts rank 0's buffers at the start of each training forward, and then each process
    updates its own running statistics from its own batch: after the last step they differ. An
    evaluation split over the processes would score each process's share with another model, none
    of them the one rank 0 saves; with rank 0's buffers everywhere it scores the saved model. A
    no-op outside a process group of several processes."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)
