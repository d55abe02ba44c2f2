"""Errors a user can fix, printed by tools/train.py and tools/test.py as one clear line."""
from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (config path, data location, checkpoint, option)."""


def user_facing_message(exc: BaseException) -> str | None:
    """The one-line message for an exception caused by user input, or None for a bug.

    Recognised: our own ``UserError``/``DatasetNotFoundError``/``CheckpointMismatchError``,
    missing files, and the registries' "X is not in the ... registry" (an unknown ``type``
    in a config, e.g. a misspelt model name).
    """
    from segclassics.datasets.paths import DatasetNotFoundError
    from segclassics.utils.checkpoint import CheckpointMismatchError

    if isinstance(exc, (UserError, DatasetNotFoundError, CheckpointMismatchError)):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return str(exc)
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, KeyError) and "is not in the" in text and "registry" in text:
        # mmengine: "Foo is not in the mmseg::model registry. Please check whether ..."
        return "unknown type in config: " + text.split(". Please check")[0]
    if "No object named" in text and "found in" in text:  # detectron2/fvcore registries
        return "unknown name in config: " + text.splitlines()[0]
    return None
