"""``NonFiniteLossHook``: stop an mmengine training at the first infinite or NaN loss.

mmengine logs ``loss: nan`` and trains on: the weights are NaN from then on, checkpoints of the
dead model are saved, validated and kept. detectron2 stops at once (``SimpleTrainer`` raises
``FloatingPointError``); this hook gives mmseg and mmdet runs the same behaviour, with one
message naming the iteration and the loss terms.

It runs right after each training step (priority ``VERY_HIGH``, before mmengine's
``CheckpointHook``), so a checkpoint due at that iteration is not written. The step whose loss
is still finite can already make the weights non-finite (an infinite gradient or learning
rate), so before any checkpoint is written the hook also checks the weights (one pass over
the parameters, at checkpoint time only) and stops instead of saving them: the newest
checkpoint on disk always holds finite weights. In distributed runs every rank learns that one
of them saw a non-finite loss (one small all-reduce per iteration), so all ranks stop together
instead of waiting for each other.

Registered in mmengine's root ``HOOKS`` (found from the mmseg and mmdet scopes).
``enable_non_finite_loss_check(cfg)`` adds it to a config unless the config sets
``non_finite_loss_check = False`` (``--cfg-options non_finite_loss_check=False``).
"""

from __future__ import annotations

import math
from typing import Mapping, Optional

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..errors import UserError
from ..utils.non_finite import NonFiniteWeightsError, first_non_finite, non_finite_loss_message

__all__ = ["NonFiniteLossError", "NonFiniteLossHook", "non_finite_terms", "enable_non_finite_loss_check"]

#: The config key that switches the check off (``False``).
CONFIG_KEY = "non_finite_loss_check"


class NonFiniteLossError(UserError):
    """The training loss became infinite or NaN."""


def non_finite_terms(log_vars: Optional[Mapping]) -> dict:
    """The loss terms (keys containing ``'loss'``, as mmengine sums them) whose value is not finite."""
    bad = {}
    for name, value in (log_vars or {}).items():
        if "loss" not in name:
            continue
        number = float(value.detach().float().mean()) if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(number):
            bad[name] = number
    return bad


def message(iteration: int, terms: Mapping[str, float]) -> str:
    """The one-line error, e.g. ``... at iteration 5 (decode.loss_ce = nan) ...``."""
    return non_finite_loss_message(iteration, dict(terms), f"; --cfg-options {CONFIG_KEY}=False trains on regardless")


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` after a training step whose loss is not finite.

    Reads the ``outputs`` of ``after_train_iter`` (the model's ``log_vars``: ``loss`` and its
    terms such as ``decode.loss_ce``). Iterations are counted from 1, as mmengine's log does.
    """

    priority = "VERY_HIGH"

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None) -> None:
        bad = non_finite_terms(outputs)
        if _any_rank(bool(bad)):
            raise NonFiniteLossError(message(runner.iter + 1, bad))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = first_non_finite(checkpoint.get("state_dict") or {})
        if bad is not None:
            iteration = (checkpoint.get("meta") or {}).get("iter", runner.iter + 1)
            raise NonFiniteWeightsError(iteration, bad, f"; --cfg-options {CONFIG_KEY}=False trains on regardless")


def _any_rank(flag: bool) -> bool:
    from mmengine.dist import all_reduce, get_world_size

    if get_world_size() == 1:
        return flag
    count = torch.tensor([float(flag)])
    all_reduce(count, op="sum")
    return bool(count.item() > 0)


def enable_non_finite_loss_check(cfg) -> bool:
    """Add :class:`NonFiniteLossHook` to an mmengine ``cfg``'s ``custom_hooks`` (once) unless
    ``cfg.non_finite_loss_check`` is False; returns whether the check is on."""
    if cfg.get(CONFIG_KEY, True) is False:
        return False
    from .custom_hooks import add_custom_hook

    add_custom_hook(cfg, NonFiniteLossHook)
    return True
