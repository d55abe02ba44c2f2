"""Errors a user can fix, printed by every entry point (the tools, the console scripts, detectron2's
``train_net``, the converters) as one clear ``error: ...`` line (exit status 2): the one reporter."""

from __future__ import annotations

import re

from segclassics.errors import UserError, print_error_line
from segclassics.utils.non_finite import non_finite_loss_message


def user_facing_message(exc: BaseException, config: str | None = None) -> str | None:
    """The one-line message for an exception caused by user input, or None for a bug.

    Recognised: every :class:`segclassics.errors.UserError` (all of segclassics' own user-facing
    errors subclass it; any other ``FileNotFoundError`` is a bug and keeps its traceback), the
    registries' "X is not in the ... registry" (an unknown ``type`` in a config, e.g. a misspelt
    model name), a keyword argument the built class does not take (a misspelt option in
    ``config``), detectron2's stop on a non-finite loss, and those wrapped by mmengine's builders.
    """
    if isinstance(exc, UserError):
        return str(exc)
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, KeyError) and "is not in the" in text and "registry" in text:
        # mmengine: "Foo is not in the mmseg::model registry. Please check whether ..."
        return "unknown type in config: " + text.split(". Please check")[0]
    if "No object named" in text and "found in" in text:  # detectron2/fvcore registries
        return "unknown name in config: " + text.splitlines()[0]
    if isinstance(exc, ValueError) and (
        "SyncBatchNorm expected input tensor to be on GPU" in text
        or "SyncBatchNorm layers only work with GPU modules" in text
    ):
        # torch's nn.SyncBatchNorm synchronises over nccl only; it never falls back to per-process BN.
        # DDP refuses a CPU module holding one when it wraps it (mmengine builds the wrapper, so this
        # comes before the "option of a built class" case), detectron2's forward when it runs.
        return (
            "norm 'SyncBN' needs one GPU per process in a distributed run (torch's SyncBatchNorm refuses CPU "
            "tensors); on CPU set the config's norm to 'BN' or 'GN'"
        )
    built = _built_class(exc)
    if built and isinstance(exc, (ValueError, AssertionError)) and text:
        # a class the config builds refused a value of an option (mmengine's build_from_cfg,
        # detectron2's instantiate): the config's error, said where it is
        where = f"{config}: " if config else ""
        return f"{where}{built}: {text.splitlines()[0]}; check that option in the config"
    if isinstance(exc, TypeError) and "unexpected keyword argument" in text:
        # mmengine's builders prefix the class: "class `X` in mod.py: __init__() got an unexpected ..."
        where = f"{config}: " if config else ""
        return f"{where}{text.splitlines()[0]}; check the spelling of that option in the config"
    lost = lost_peer_message(exc)
    if lost:
        return lost
    found = re.search(r"Loss became infinite or NaN at iteration=(\d+)", text)
    if isinstance(exc, FloatingPointError) and found:
        # detectron2's SimpleTrainer: "... at iteration=N!\nloss_dict = {'loss_x': nan, ...}", N from 0
        terms = {
            name: value
            for name, value in re.findall(r"'(\w+)': ([^,}]+)", text.split("loss_dict", 1)[-1])
            if value.strip().lstrip("-") in ("nan", "inf")
        }  # the terms at fault, as mmengine's hook lists
        return non_finite_loss_message(int(found.group(1)) + 1, terms)
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc and isinstance(exc, RuntimeError):
        return user_facing_message(cause, config)
    return None


#: What torch's gloo and nccl backends say when a peer process died (its connections closed)
#: or hung past the collective timeout (--dist-timeout).
_LOST_PEER = re.compile(
    r"Connection (?:reset|closed) by peer|Broken pipe|Timed out waiting \d+ms|"
    r"NCCL communicator was aborted|Watchdog caught collective operation timeout"
)


def lost_peer_message(exc: BaseException) -> str | None:
    """The one line for a distributed run whose collective failed because another process died
    or hung (gloo: "Connection reset by peer", "Timed out waiting ..."; nccl: the watchdog's
    timeout), or None when no process group is running or the error is another one."""
    import torch.distributed as dist

    if not (isinstance(exc, RuntimeError) and dist.is_available() and dist.is_initialized()):
        return None
    text = str(exc)
    if not _LOST_PEER.search(text):
        return None
    detail = re.sub(r"^\[[^\]]*\.(?:cc|cpp|h):\d+\]\s*", "", text.strip().splitlines()[0])  # gloo's source line
    detail = detail.split(". This is typically caused")[0].rstrip(". ")
    return (
        f"distributed run stopped: process {dist.get_rank()} of {dist.get_world_size()} lost a peer at a "
        f"collective ({detail}); another process died or hung -- its own log says why. Continue from the last "
        f"checkpoint with --resume"
    )


#: Exit status of a run stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130


def interrupted_message() -> str:
    """The one line for Ctrl-C: where the run's work stands (its last checkpoint, if it wrote one)."""
    from segclassics.utils.writer import last_checkpoint_written

    last = last_checkpoint_written()
    if last:
        return f"interrupted (Ctrl-C); the last checkpoint written is {last}: continue with --resume"
    return "interrupted (Ctrl-C); this run wrote no checkpoint"


def _built_class(exc: BaseException):
    """The name of the innermost class whose constructor raised ``exc`` while a config was being
    built, or None: a class called by mmengine's ``build_from_cfg`` or detectron2's ``instantiate``
    (LazyConfig), or, under detectron2's yaml ``build_model``, the innermost detectron2 part (a class
    of ``detectron2`` or ``segclassics.detectron2``, which the yaml's registry names build) whose
    constructor was running."""
    found, tb, builder, yaml_build, part = None, exc.__traceback__, False, False, None
    while tb is not None:
        frame, code = tb.tb_frame, tb.tb_frame.f_code
        if code.co_name == "__init__" and "self" in frame.f_locals:
            cls = type(frame.f_locals["self"])
            if builder:
                found = cls.__name__
            if yaml_build and cls.__module__.startswith(("detectron2.", "segclassics.detectron2.")):
                part = cls.__name__
        builder = code.co_name in ("build_from_cfg", "instantiate")
        if code.co_name == "build_model" and code.co_filename.replace("\\", "/").endswith("meta_arch/build.py"):
            yaml_build = True  # detectron2.modeling.build_model(cfg): the yaml config's model
        tb = tb.tb_next
    return found or part


def _raised_while_interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while a ``KeyboardInterrupt`` was being handled (its chain of
    causes and contexts holds one)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def run_reporting_user_errors(run, debug: bool = False, config: str | None = None, trust_flag: bool = False) -> int:
    """``run()``'s exit status; when it raises an error caused by user input (see
    :func:`user_facing_message`), one ``error: ...`` line on stderr and exit status 2 instead
    (``debug``: the traceback). Bugs re-raise. Ctrl-C is one line (:func:`interrupted_message`) and
    exit status 130. ``trust_flag``: the tool takes ``--trust-checkpoint`` (refused checkpoints
    name it)."""
    import contextlib

    from segclassics.utils.reader import trust_option

    try:
        with trust_option() if trust_flag else contextlib.nullcontext():
            return run()
    except KeyboardInterrupt:
        if debug:
            raise
        print_error_line(interrupted_message(), prefix="")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - user errors become one line, bugs re-raise
        if _raised_while_interrupted(exc) and not debug:
            # Ctrl-C inside code that then failed cleaning up (torch.save's zip writer raises
            # RuntimeError on the half-written file): still the interruption, not a bug
            print_error_line(interrupted_message(), prefix="")
            return EXIT_INTERRUPTED
        message = user_facing_message(exc, config)
        if message is None or debug:
            raise
        print_error_line(message)
        return 2
