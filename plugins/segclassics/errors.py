"""The errors a user can fix (ground floor: imports nothing from segclassics).

Every error caused by user input (a config, a data location, a checkpoint, an option) subclasses
:class:`UserError`; the tools print it as one ``error: ...`` line with exit status 2 (see
:func:`segclassics.utils.reporting.run_reporting_user_errors`), and anything else, bugs included,
keeps its traceback. An error that code or users also catch by a builtin type keeps that type as a
second base (e.g. :class:`MissingFileError` is a ``FileNotFoundError``).
"""

from __future__ import annotations

import sys

__all__ = ["UserError", "MissingFileError", "print_error_line"]


class UserError(Exception):
    """Bad input from the user (config path, data location, checkpoint, option)."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named (or a config points to) does not exist or holds nothing
    usable; the message names it and what would be right."""


def print_error_line(message: str, prefix: str = "error: ") -> None:
    """Write ``prefix + message`` and its newline to stderr in one write, then flush. The processes of
    a distributed run share one stream (a log file, a terminal), and ``print`` writes the text and
    the newline separately: unbuffered (``PYTHONUNBUFFERED``, torchrun's workers), two processes'
    lines then interleave into one."""
    sys.stderr.write(f"{prefix}{message}\n")
    sys.stderr.flush()
