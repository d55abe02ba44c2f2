"""Keep detectron2's trainer from printing a traceback for an error the tools report in one line.

detectron2's ``TrainerBase.train`` (and ``SimpleTrainer._write_metrics``) log every exception
raised during training with ``logger.exception(...)`` before re-raising it, so an error caused
by the input -- a corrupt image, a label of another size, a loss that became NaN -- reaches the
terminal as a full traceback followed by the tools' ``error:`` line. This filter drops those log
records when the exception has a one-line message (the tools pass
:func:`segclassics.utils.reporting.user_facing_message`); bugs keep their traceback, and
``--debug`` (which does not install the filter) shows everything.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

__all__ = ["UserErrorTracebackFilter", "install"]

#: detectron2's training loop logs its exceptions on this logger.
TRAIN_LOOP_LOGGER = "detectron2.engine.train_loop"


class UserErrorTracebackFilter(logging.Filter):
    """Drop log records whose attached exception has a one-line message.

    Args:
        one_line: the message the tools print for an exception, or None for a bug.
    """

    def __init__(self, one_line: Callable[[BaseException], Optional[str]]):
        super().__init__()
        self.one_line = one_line

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or self.one_line(exc) is None


def install(one_line: Callable[[BaseException], Optional[str]]) -> None:
    """Add the filter to detectron2's training-loop logger (once)."""
    logger = logging.getLogger(TRAIN_LOOP_LOGGER)
    if not any(isinstance(f, UserErrorTracebackFilter) for f in logger.filters):
        logger.addFilter(UserErrorTracebackFilter(one_line))
