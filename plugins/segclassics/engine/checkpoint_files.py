"""Checkpoint files of a training: which one ``--resume`` continues from
(:mod:`segclassics.utils.resume`) and the refusal to save diverged weights.
"""
from __future__ import annotations

from typing import Mapping, Optional

from segclassics.utils.resume import is_complete_checkpoint, newest_complete_checkpoint  # noqa: F401

from .errors import UserError

__all__ = ["is_complete_checkpoint", "newest_complete_checkpoint", "first_non_finite",
           "NonFiniteWeightsError"]


class NonFiniteWeightsError(UserError):
    """A model about to be saved has infinite or NaN weights (the training diverged)."""

    def __init__(self, iteration: int, name: str, hint: str = ""):
        super().__init__(f"training stopped: the weights became infinite or NaN by iteration {iteration} (e.g. {name}); "
                         f"the checkpoint due then was not written. Lower the learning rate or check the data{hint}")


def first_non_finite(state_dict: Mapping) -> Optional[str]:
    """The name of the first floating-point tensor of ``state_dict`` holding an infinity or a NaN,
    or None. Checkpoint writers call it so that a diverged model is never saved as the newest
    checkpoint (one pass over the weights, at checkpoint time only)."""
    import torch
    for name, value in state_dict.items():
        if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name
    return None
