"""The command-line options that several segclassics tools take, defined once.

Each ``add_*`` function adds one option to an ``argparse`` parser with the same flags, default and
help text in every tool that offers it (the console scripts, ``tools/*.py`` and the ``python -m
segclassics...`` commands), so that ``--cfg-options`` or ``--trust-checkpoint`` reads and behaves
alike everywhere. Where a tool needs to say more (which files ``--overwrite`` may replace, what the
overrides apply to), it passes that as an argument; the shared part of the text stays the same.
"""

from __future__ import annotations

import argparse

__all__ = ["add_amp", "add_cfg_options", "add_debug", "add_overwrite", "add_trust_checkpoint"]

CFG_OPTIONS_HELP = (
    "override config entries in the framework's own syntax, e.g. train_cfg.max_iters=100 (mmengine), "
    "train.max_iter=100 (detectron2 LazyConfig) or SOLVER.MAX_ITER=100 (detectron2 yaml)"
)
TRUST_CHECKPOINT_HELP = (
    "unpickle checkpoints fully (they can run code!): only for legacy files whose origin you trust; "
    "by default checkpoints are read as plain data (torch weights_only)"
)
DEBUG_HELP = "show tracebacks for input errors"
AMP_HELP = "mixed precision: bf16 autocast on CPU, fp16 on CUDA (with loss scaling when training)"
OVERWRITE_TAIL = "a dataset's images and labels are never written over"


def add_cfg_options(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--cfg-options KEY=VALUE ...`` (``args.cfg_options``, a list, empty by default); ``note``:
    what else the tool says about them (e.g. which configs they apply to)."""
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        metavar="KEY=VALUE",
        default=[],
        help=CFG_OPTIONS_HELP + (f"; {note}" if note else ""),
    )


def add_trust_checkpoint(parser: argparse.ArgumentParser) -> None:
    """``--trust-checkpoint`` (``args.trust_checkpoint``): read checkpoints with the full unpickler.
    Without it every checkpoint is read as plain data (``segclassics.utils.reader``)."""
    parser.add_argument("--trust-checkpoint", action="store_true", help=TRUST_CHECKPOINT_HELP)


def add_debug(parser: argparse.ArgumentParser) -> None:
    """``--debug`` (``args.debug``): a traceback instead of the one ``error:`` line of an input
    error (``segclassics.utils.reporting.run_reporting_user_errors``)."""
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)


def add_overwrite(parser: argparse.ArgumentParser, what: str) -> None:
    """``--overwrite`` (``args.overwrite``, for ``segclassics.utils.writer.overwriting``); ``what``:
    the files of the tool it lets a run replace."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what}; {OVERWRITE_TAIL}")


def add_channels_last(parser: argparse.ArgumentParser) -> None:
    """``--channels-last`` (``args.channels_last``, a bool): the model's 4-d weights stored NHWC for the
    training."""
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="store the model's 4-d weights channels-last (NHWC) for the training: with --amp on a CPU with AMX "
        "the convolutions of most models train faster (docs/benchmark.md); the weights' values and the "
        "checkpoint's keys are the same",
    )


def add_amp(parser: argparse.ArgumentParser) -> None:
    """``--amp`` (``args.amp``, a bool): automatic mixed precision, as the tools that train or
    predict set it up."""
    parser.add_argument("--amp", action="store_true", help=AMP_HELP)
