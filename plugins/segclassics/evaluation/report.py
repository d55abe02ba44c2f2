"""Metrics as they are printed and written: an undefined metric is said to be undefined.

A metric over nothing is undefined: mmseg's IoU when every pixel of the validation split is the
ignore index (0 / 0), detectron2's COCO AP with no instance of a class. The frameworks hand it
over as NaN, which ``json.dump`` writes as the bare word ``NaN`` (not JSON: strict readers
refuse the file) and which prints like a value. :func:`split_undefined` gives the metrics with
``None`` (JSON ``null``) in its place and the names of the undefined ones, for the line that
says so.
"""

from __future__ import annotations

import math
from typing import Dict, List, Mapping, Tuple

UNDEFINED_NOTE = (
    "undefined (computed over no labelled pixel or instance: every label of the split is the ignore "
    "index, or the class never occurs)"
)


def split_undefined(metrics: Mapping[str, object]) -> Tuple[Dict[str, object], List[str]]:
    """``(metrics with None for every NaN or infinite value, the names of those)``; numbers become
    plain floats/ints so that the result is strict JSON."""
    out: Dict[str, object] = {}
    undefined: List[str] = []
    for name, value in metrics.items():
        try:
            number = float(value)  # numpy and torch scalars too
        except (TypeError, ValueError):
            out[name] = value
            continue
        if math.isfinite(number):
            out[name] = int(number) if isinstance(value, int) and not isinstance(value, bool) else number
        else:
            out[name] = None
            undefined.append(str(name))
    return out, undefined
