"""A training that diverged: the one message for a loss that became infinite or NaN (mmengine's
hook and detectron2's own check), and the refusal to save weights that did."""

from __future__ import annotations

from typing import Mapping, Optional

from segclassics.errors import UserError

__all__ = ["non_finite_loss_message", "first_non_finite", "NonFiniteWeightsError"]


def non_finite_loss_message(iteration: int, terms: dict, opt_out: str = "") -> str:
    """The one line for a training stopped by an infinite or NaN loss (mmengine's hook and
    detectron2's own check); ``iteration`` counts from 1, as mmengine's log does."""
    listed = ", ".join(f"{k} = {v}" for k, v in terms.items()) or "on another process"
    return (
        f"training stopped: the loss became infinite or NaN at iteration {iteration} ({listed}); no checkpoint "
        f"was saved from then on. Lower the learning rate or check the data{opt_out}"
    )


class NonFiniteWeightsError(UserError):
    """A model about to be saved has infinite or NaN weights (the training diverged)."""

    def __init__(self, iteration: int, name: str, hint: str = ""):
        super().__init__(
            f"training stopped: the weights became infinite or NaN by iteration {iteration} (e.g. {name}); "
            f"the checkpoint due then was not written. Lower the learning rate or check the data{hint}"
        )


def first_non_finite(state_dict: Mapping) -> Optional[str]:
    """The name of the first floating-point tensor of ``state_dict`` holding an infinity or a NaN,
    or None. Checkpoint writers call it so that a diverged model is never saved as the newest
    checkpoint (one pass over the weights, at checkpoint time only)."""
    import torch

    for name, value in state_dict.items():
        if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name
    return None
