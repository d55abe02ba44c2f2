"""The classes a model's heads predict against the classes its training data has.

A head with more outputs than the dataset has classes trains on (the extra outputs are never a
target) and reports a metric for classes that do not exist; a head with fewer fails deep in the
loss (mmseg: a CUDA/CPU index assertion, detectron2: later still, in the evaluator). Checked once,
before training, from the config alone: :func:`check_class_counts` names the head's option, the
dataset and both counts.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .sample_checks import DataError

__all__ = ["check_class_counts"]


def check_class_counts(heads: Mapping[str, int], classes: Sequence[str], dataset: str, config: str) -> None:
    """Raise :class:`DataError` for the first head whose class count (``heads``: option -> count)
    differs from ``len(classes)``."""
    for option, count in heads.items():
        if isinstance(count, int) and count != len(classes):
            shown = ", ".join(map(str, list(classes)[:6])) + (" ..." if len(classes) > 6 else "")
            n = len(classes)
            raise DataError(
                f"{config}: {option} is {count} but the training data ({dataset}) has {n} "
                f"class{'' if n == 1 else 'es'} ({shown}); set {option}={n}, or give the dataset the classes "
                f"the model predicts"
            )
