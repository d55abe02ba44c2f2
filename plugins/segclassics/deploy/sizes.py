"""Which input heights/widths an exported graph accepts, as one rule per model.

Every axis (height and width alike) accepts the lengths ``offset + step * k`` that are at least
``minimum``: ``step=1`` is "any size >= minimum"; the 'same'-padding UNet needs multiples of
``2 ** (depth - 1)``; the paper's valid UNet needs an even map before each of its 2x2 pools
(``124 + 16 k``, k >= 4, for depth 5). The same rule gives

* the exporter's dynamic dimensions (``torch.export.Dim``; a derived ``step * k + offset``
  where ``step > 1``, so the graph is traced for exactly these sizes),
* the check of a requested size with one message naming the nearest valid sizes,
* the sentence the docs and the ONNX metadata print.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

from segclassics.errors import UserError

#: Largest height/width the exported graphs are declared for (a declared bound, not a test).
MAX_SIZE = 8192


class InvalidInputSizeError(UserError):
    """A height/width the model (and so its exported graph) cannot take."""


@dataclass(frozen=True)
class SizeRule:
    """Valid lengths ``offset + step * k >= minimum`` (integers ``k``) on each spatial axis.

    Args:
        step: spacing of valid lengths (1: every length).
        offset: a valid length modulo ``step`` (``0 <= offset < step`` after normalisation).
        minimum: smallest valid length.
        why: what imposes the rule, for messages (e.g. "2x2 max pools after unpadded convs").
    """

    step: int = 1
    offset: int = 0
    minimum: int = 1
    why: str = ""

    def __post_init__(self):
        if self.step < 1 or self.minimum < 1:
            raise ValueError(f"SizeRule needs step >= 1 and minimum >= 1, got {self.step}, {self.minimum}")
        object.__setattr__(self, "offset", self.offset % self.step)
        if (self.minimum - self.offset) % self.step:
            raise ValueError(
                f"SizeRule minimum {self.minimum} is not offset + k * step ({self.offset} + k * {self.step})"
            )

    def is_valid(self, n: int) -> bool:
        return n >= self.minimum and (n - self.offset) % self.step == 0

    def valid_sizes(self, lo: int, hi: int) -> List[int]:
        """Valid lengths in ``[lo, hi]``."""
        first = max(lo, self.minimum)
        first += (self.offset - first) % self.step
        return list(range(first, hi + 1, self.step))

    def nearest(self, n: int) -> List[int]:
        """The valid lengths next to ``n`` (one below if any, one above)."""
        above = [self.at_least(n + 1)] if self.is_valid(n) else [self.at_least(n)]
        below = [v for v in self.valid_sizes(self.minimum, n) if v < n][-1:]
        return below + above

    def at_least(self, n: int) -> int:
        """The smallest valid length >= ``n``."""
        return self.valid_sizes(n, max(n, self.minimum) + self.step)[0]

    def describe(self) -> str:
        """E.g. ``"any size >= 1"``, ``"multiples of 8"``, ``"188 + 16k (k >= 0): 188, 204, 220, ..."``."""
        if self.step == 1:
            return f"any size >= {self.minimum}"
        if self.offset == 0 and self.minimum == self.step:
            return f"multiples of {self.step}"
        sizes = ", ".join(str(s) for s in self.valid_sizes(self.minimum, self.minimum + 2 * self.step))
        return f"{self.minimum} + {self.step}k (k >= 0): {sizes}, ..."

    def check(self, size: Sequence[int], what: str) -> Tuple[int, int]:
        """Return ``(H, W)`` or raise :class:`InvalidInputSizeError` naming the axis, the rule
        and the nearest valid lengths; ``what`` names the model in the message."""
        h, w = (int(s) for s in size)
        for axis, n in (("height", h), ("width", w)):
            if n > MAX_SIZE:
                raise InvalidInputSizeError(
                    f"input {axis} {n} is larger than the exported graph's limit {MAX_SIZE} "
                    f"(its dynamic sizes are declared up to that); use a size up to {MAX_SIZE}"
                )
            if not self.is_valid(n):
                reason = f" ({self.why})" if self.why else ""
                raise InvalidInputSizeError(
                    f"input {axis} {n} is not valid for {what}: it takes {self.describe()}{reason}; "
                    f"nearest valid {axis}s: {self.nearest(n)}"
                )
        return h, w

    def export_dim(self, name: str, max_size: int = MAX_SIZE):
        """The ``torch.export`` dimension for one axis: a free one for ``step == 1``, else the
        derived ``step * k + offset`` over the valid ``k``."""
        from torch.export import Dim

        if self.step == 1:
            # DYNAMIC (not a named Dim): guards that hold for every size but that the symbolic
            # shape solver cannot prove (ceil-mode pooling arithmetic) must not abort the export;
            # a real specialisation still shows in export_onnx's check of the traced input.
            return Dim.DYNAMIC(min=max(2, self.minimum), max=max_size)
        k = Dim(f"{name}_k", min=(self.minimum - self.offset) // self.step, max=(max_size - self.offset) // self.step)
        return self.step * k + self.offset if self.offset else self.step * k
