"""Override values (``KEY=VALUE`` on the command line) checked against the config's own values.

The frameworks parse a value as a Python literal when they can and keep it as a string when
they cannot, then put it into the config whatever its type: ``train_cfg.max_iters=abc`` becomes
the string ``'abc'``, ``train_dataloader.batch_size=-1`` a negative batch, ``lr=1e40`` a learning
rate that overflows float32; each fails later, far from the option, as a traceback. The config's
own value says what is meant: :func:`check_override_value` refuses, in one line naming the key,
the file and what would be right,

* a value of another kind than the config's (a number where it has a number, a flag where it has
  a flag, text where it has text; an int where it has a float is fine, ``None`` either way too);
* a count that is not positive (batch sizes, iterations, class counts, and the intervals and periods
  the frameworks divide by: mmengine's ``val_interval``, detectron2's checkpoint and log periods) or
  is negative (mmengine's hook intervals, detectron2's eval period, dataloader workers: 0 switches
  them off);
* a float that is not finite or does not fit float32.
"""

from __future__ import annotations

import math
import re
from typing import Any

from segclassics.errors import UserError

__all__ = ["OverrideValueError", "check_override_value"]

#: Keys whose value counts something and must be at least 1 (matched on the last part of the key).
#: The loops divide by ``val_interval`` (mmengine's ``IterBasedTrainLoop``/``EpochBasedTrainLoop``) and
#: by every period but the eval period (fvcore's ``PeriodicCheckpointer``, detectron2's
#: ``PeriodicWriter``): 0 is a ZeroDivisionError there, not "off".
POSITIVE_COUNTS = re.compile(
    r"(^|_)(batch_size|samples_per_gpu|ims_per_batch|max_iters?|max_epochs|num_classes|val_interval|"
    r"(?<!eval_)period)$",
    re.IGNORECASE,
)
#: Keys that count and may be 0 (an interval or period of 0 switches the thing off, 0 workers load in-process).
COUNTS = re.compile(r"(^|_)(interval|period|num_workers)$", re.IGNORECASE)
FLOAT32_MAX = 3.4028234663852886e38


class OverrideValueError(UserError, ValueError):
    """An override's value cannot be what the config means (one line)."""


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a flag (True/False)"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return "a list"
    if isinstance(value, dict) or hasattr(value, "keys"):
        return "a mapping"
    return type(value).__name__


def check_override_value(key: str, value: Any, current: Any, file: str) -> None:
    """Raise :class:`OverrideValueError` unless ``value`` may replace the config's ``current``
    value of ``key`` (see the module docstring). ``current`` None: the config leaves the key
    open, so only the range rules apply."""
    leaf = key.split(".")[-1]
    shown = f"override {key}={value!r} for {file}"
    if current is not None and value is not None and _kind(value) != _kind(current):
        raise OverrideValueError(
            f"{shown}: the config's value is {_kind(current)} ({current!r}), this is "
            f"{_kind(value)}; give {_kind(current)}"
        )
    if (
        isinstance(current, int)
        and not isinstance(current, bool)
        and isinstance(value, float)
        and not value.is_integer()
    ):
        raise OverrideValueError(f"{shown}: the config's value is a whole number ({current!r}); give one")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and (not math.isfinite(value) or abs(value) > FLOAT32_MAX):
        raise OverrideValueError(f"{shown}: {value!r} is not a finite float32 number")
    if POSITIVE_COUNTS.search(leaf) and value < 1:
        raise OverrideValueError(f"{shown}: {leaf} counts something and must be at least 1")
    if COUNTS.search(leaf) and value < 0:
        raise OverrideValueError(f"{shown}: {leaf} counts something and cannot be negative")
