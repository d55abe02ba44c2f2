"""Joining a torch.distributed job, the same way for mmengine and detectron2 configs.

* ``--launcher pytorch``: torchrun (``torchrun --nproc-per-node N --no-python segclassics-train ...``;
  in a checkout also ``tools/dist_train.sh``, ``tools/dist_test.sh``) put ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/
  ``MASTER_ADDR``/``MASTER_PORT`` in the environment.
* ``--launcher slurm``: ``srun`` started one process per task; its ``SLURM_PROCID``/
  ``SLURM_NTASKS``/``SLURM_LOCALID``/``SLURM_NODELIST`` are mapped to torchrun's variables
  (:func:`slurm_to_torchrun_env`), so both frameworks then join as under torchrun.

The group is nccl with one GPU per process (``LOCAL_RANK``) when CUDA is available, gloo on
CPU. Collectives time out after ``--dist-timeout`` seconds (torch's default is 30 minutes), so a
peer that hangs stops the others with an error instead of a silent wait; a peer that dies closes
its connections, and the others stop at their next collective.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re

import torch

from ..errors import UserError

#: Seconds a collective may wait for a peer (--dist-timeout). Long enough for rank 0 alone to
#: evaluate or write a checkpoint while the others wait at a barrier, short enough that a hung
#: peer ends the job within minutes.
DEFAULT_TIMEOUT_S = 600

#: MASTER_PORT under Slurm when the environment does not set one (torchrun's default).
DEFAULT_SLURM_PORT = 29500

#: How each launcher starts the installed console script (segclassics-test likewise); the
#: checkout's tools/dist_*.sh and tools/slurm_*.sh wrap the same commands.
TORCHRUN_COMMAND = "torchrun --nproc-per-node N --no-python segclassics-train CONFIG --launcher pytorch"
SRUN_COMMAND = "srun --ntasks N segclassics-train CONFIG --launcher slurm"


def first_host(nodelist: str) -> str:
    """The first host name of a Slurm node list: ``"gpu[07-09,12],cpu1"`` -> ``"gpu07"``.

    What ``scontrol show hostnames "$SLURM_NODELIST" | head -n1`` prints, without needing
    ``scontrol`` inside the job step."""
    nodelist = nodelist.strip()
    match = re.match(r"([^,\[]*)(?:\[([^\]]+)\])?([^,]*)", nodelist)
    if not nodelist or match is None or not (match.group(1) or match.group(2)):
        raise UserError(f"SLURM_NODELIST={nodelist!r} names no host; run under srun or sbatch")
    prefix, ranges, suffix = match.groups()
    if not ranges:
        return prefix + suffix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first + suffix


def slurm_to_torchrun_env(environ: dict) -> dict:
    """torchrun's variables for a process started by ``srun`` (one task per process).

    RANK = SLURM_PROCID, WORLD_SIZE = SLURM_NTASKS, LOCAL_RANK = SLURM_LOCALID,
    LOCAL_WORLD_SIZE = tasks on this node, MASTER_ADDR = first host of SLURM_NODELIST (unless
    set), MASTER_PORT = $MASTER_PORT or 29500."""
    missing = [k for k in ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NODELIST") if k not in environ]
    if missing:
        raise UserError(
            f"--launcher slurm: {', '.join(missing)} not set; start the processes with srun ({SRUN_COMMAND})"
        )
    ntasks = int(environ["SLURM_NTASKS"])
    per_node = environ.get("SLURM_NTASKS_PER_NODE", "").split("(")[0]  # "2(x3)" -> "2"
    nnodes = int(environ.get("SLURM_NNODES", "1"))
    local_world = int(per_node) if per_node.isdigit() else max(1, ntasks // max(1, nnodes))
    return {
        "RANK": environ["SLURM_PROCID"],
        "WORLD_SIZE": str(ntasks),
        "LOCAL_RANK": environ["SLURM_LOCALID"],
        "LOCAL_WORLD_SIZE": str(local_world),
        "MASTER_ADDR": environ.get("MASTER_ADDR") or first_host(environ["SLURM_NODELIST"]),
        "MASTER_PORT": environ.get("MASTER_PORT") or str(DEFAULT_SLURM_PORT),
    }


def init_distributed(launcher: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Join the job's process group (once); False for ``launcher == 'none'``.

    On CUDA each process takes the GPU of its ``LOCAL_RANK`` before nccl starts."""
    if launcher == "none":
        return False
    if launcher == "slurm":
        os.environ.update(slurm_to_torchrun_env(dict(os.environ)))
    elif launcher != "pytorch":
        raise UserError(f"--launcher {launcher}: use 'pytorch' ({TORCHRUN_COMMAND}) or 'slurm' ({SRUN_COMMAND})")
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise UserError(f"--launcher pytorch: {', '.join(missing)} not set; run under torchrun ({TORCHRUN_COMMAND})")
    if timeout_s <= 0:
        raise UserError(f"--dist-timeout {timeout_s}: must be a positive number of seconds")
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout_s))
    return True


def ddp_device_ids(model: torch.nn.Module):
    """``device_ids`` for ``DistributedDataParallel``: the module's one GPU, or None for a CPU
    module (torch refuses device ids for CPU modules)."""
    devices = {p.device for p in model.parameters()}
    if len(devices) == 1 and next(iter(devices)).type == "cuda":
        return [next(iter(devices)).index if next(iter(devices)).index is not None else torch.cuda.current_device()]
    return None


def create_ddp_model(model: torch.nn.Module, *, fp16_compression: bool = False, **kwargs):
    """detectron2's ``create_ddp_model`` for CPU and GPU modules: with one process the model
    itself; otherwise DDP with the device ids of :func:`ddp_device_ids` (detectron2's passes
    ``[local rank]`` always, which torch refuses for a CPU module)."""
    from detectron2.utils import comm
    from torch.nn.parallel import DistributedDataParallel

    if comm.get_world_size() == 1:
        return model
    kwargs.setdefault("device_ids", ddp_device_ids(model))
    ddp = DistributedDataParallel(model, **kwargs)
    if fp16_compression:
        from torch.distributed.algorithms.ddp_comm_hooks import default as comm_hooks

        ddp.register_comm_hook(state=None, hook=comm_hooks.fp16_compress_hook)
    return ddp


@contextlib.contextmanager
def detectron2_trainers_use_our_ddp():
    """Within the block, detectron2's ``DefaultTrainer.__init__`` wraps its model with
    :func:`create_ddp_model` (it calls the ``create_ddp_model`` of ``detectron2.engine.defaults``
    and takes no device ids from its caller)."""
    from detectron2.engine import defaults

    saved = defaults.create_ddp_model
    defaults.create_ddp_model = create_ddp_model
    try:
        yield
    finally:
        defaults.create_ddp_model = saved
