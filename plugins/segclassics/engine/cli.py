"""Command lines of tools/train.py and tools/test.py.

One entry point for both frameworks: the config's backend (chosen from its kind, see
``backends``) runs it with mmengine's ``Runner`` (mmseg/mmdet) or detectron2's trainers.
Errors caused by the user's input are printed as one ``error:`` line with exit status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os

from segclassics.utils.cli_args import (
    add_amp,
    add_cfg_options,
    add_channels_last,
    add_debug,
    add_overwrite,
    add_trust_checkpoint,
)
from segclassics.utils.writer import check_writable, overwriting, write_json

from ..utils.reporting import run_reporting_user_errors
from .backends import backend_for
from .distributed import DEFAULT_TIMEOUT_S, SRUN_COMMAND, TORCHRUN_COMMAND


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work-dir", help="where logs and checkpoints go (default ./work_dirs/<config name>)")
    add_cfg_options(parser)
    parser.add_argument(
        "--launcher",
        choices=["none", "pytorch", "slurm"],
        default="none",
        help=f"'pytorch' under torchrun ({TORCHRUN_COMMAND}), 'slurm' under srun ({SRUN_COMMAND}); "
        "see docs/distributed.md",
    )
    parser.add_argument(
        "--dist-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="distributed runs: how long a collective waits for a lost or hung peer before "
        "every process stops with an error (default %(default)s)",
    )
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    add_trust_checkpoint(parser)
    add_overwrite(
        parser,
        "files that this run did not write (a finished run's checkpoints in --work-dir, an existing --metrics-json)",
    )
    add_debug(parser)
    parser.add_argument("opts", nargs="*", default=[], help="detectron2-style KEY=VALUE overrides after the config")


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train a segclassics / mmseg / mmdet / detectron2 config.")
    p.add_argument("config", help="mmengine config (.py) or detectron2 LazyConfig (.py) / yaml")
    p.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        help="resume from the latest checkpoint in the work dir, or from the given file",
    )
    add_amp(p)
    add_channels_last(p)
    p.add_argument("--auto-scale-lr", action="store_true", help="mmdet: scale lr by the real batch size")
    _common(p)
    return p


def test_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate a checkpoint; print metrics; optionally write overlays.")
    p.add_argument("config")
    p.add_argument("checkpoint")
    p.add_argument("--show-dir", help="write overlay PNGs of the predictions here")
    p.add_argument("--metrics-json", help="also write the metrics as JSON to this file")
    p.add_argument(
        "--out",
        help="mmseg configs: write each test image's predicted labels as DIR/<image name>.png "
        "(8-bit class indices, as mmseg's IoUMetric); mmdet configs: pickle the "
        "predictions into FILE.pkl (as mmdet's tools/test.py --out)",
    )
    p.add_argument(
        "--tta",
        action="store_true",
        help="mmseg configs: test-time augmentation with the config's tta_pipeline and tta_model",
    )
    _common(p)
    return p


def _resume_took_an_override(args) -> None:
    """``--resume KEY=VALUE``: ``--resume`` takes an optional path, so argparse hands it the
    override that follows; an argument with ``=`` that is not a file is an override."""
    if getattr(args, "resume", None) and "=" in args.resume and not os.path.isfile(args.resume):
        args.opts.insert(0, args.resume)
        args.resume = "auto"


def _run(mode: str, argv) -> int:
    parser = train_parser() if mode == "train" else test_parser()
    args = parser.parse_intermixed_args(argv)
    _resume_took_an_override(args)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    result: dict = {}
    chosen: dict = {}  # the backend, once chosen (the error path frees its groups too)

    def dispatch() -> int:
        if mode == "test" and args.metrics_json:
            check_writable(args.metrics_json, what="--metrics-json")  # before the evaluation, not after
        backend = chosen["backend"] = backend_for(args.config)
        backend.check_arguments(args)
        result.update(getattr(backend, mode)(args) or {})
        if mode == "test" and int(os.environ.get("RANK", "0")) == 0:
            _report_metrics(result, args)
        _leave_process_group(backend)  # its barrier can find a lost peer too: one line as well
        return 0

    with overwriting(args.overwrite):
        status = run_reporting_user_errors(dispatch, args.debug, args.config, trust_flag=True)
    if status:
        _abandon_process_group(chosen.get("backend"))
    return status


def _report_metrics(result: dict, args) -> None:
    """Print the metrics (an undefined one says so) and write them as strict JSON."""
    from segclassics.evaluation.report import UNDEFINED_NOTE, split_undefined

    metrics, undefined = split_undefined(result)
    print("metrics: " + json.dumps(metrics, sort_keys=True))
    if undefined:
        print(f"{', '.join(undefined)}: {UNDEFINED_NOTE}")
    if args.metrics_json:
        write_json(args.metrics_json, metrics, what="--metrics-json")
    if args.show_dir:
        print(f"overlays: {os.path.abspath(args.show_dir)}")


def _leave_process_group(backend) -> None:
    """End a torchrun job cleanly: wait for every rank, then :func:`_free_process_groups`."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        _free_process_groups(backend)


def _abandon_process_group(backend) -> None:
    """After an error: :func:`_free_process_groups` without waiting for the other ranks (a barrier
    would wait for a peer that is gone), so that the process exits instead of aborting in the
    groups' teardown at interpreter exit. ``backend``: None when the error came before one was
    chosen."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            _free_process_groups(backend)
        except Exception:  # noqa: BLE001 - the error that stopped the run is already reported
            pass


def _free_process_groups(backend) -> None:
    """Destroy the process groups and free them while the interpreter is still whole.

    Left to the interpreter's exit, a gloo group's threads can be torn down while still joinable
    ("terminate called without an active exception", SIGABRT), which torchrun then reports as a
    failed job. ``destroy_process_group`` only forgets the groups: the C++ objects go when the
    last Python reference does, so the framework's own references go first
    (``backend.forget_process_groups``) and the collector runs once.
    """
    import gc

    import torch.distributed as dist

    if backend is not None:
        backend.forget_process_groups()
    dist.destroy_process_group()
    gc.collect()


def train_main(argv=None) -> int:
    return _run("train", argv)


def test_main(argv=None) -> int:
    return _run("test", argv)
