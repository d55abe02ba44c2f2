"""Loading state dicts so that a mismatch is an error that names the keys, never a silent
partial load (mmseg issues #1049 and #1288 are users bitten by exactly that)."""
from __future__ import annotations

import os
from typing import Callable, Mapping

import torch
from torch import nn


class CheckpointMismatchError(RuntimeError):
    """Keys or shapes of a checkpoint do not match the model."""


def read_state_dict(path: str) -> dict:
    """Read a checkpoint file and return its tensor state dict.

    Accepts plain state dicts and the usual wrappers (``state_dict``, ``model``, ``module``).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path!r}")
    obj = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("state_dict", "model", "module"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise CheckpointMismatchError(f"{path!r} holds a {type(obj).__name__}, not a state dict")
    return dict(obj)


def check_state_dict(module: nn.Module, state_dict: Mapping[str, torch.Tensor],
                     allow_missing: tuple[str, ...] = (), allow_unexpected: tuple[str, ...] = ()) -> None:
    """Raise :class:`CheckpointMismatchError` listing missing, unexpected and mis-shaped keys.

    ``allow_missing`` / ``allow_unexpected`` are key prefixes that may legitimately differ
    (e.g. a classifier that is re-initialised for a new number of classes).
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict and not k.startswith(allow_missing or ("\0",))]
    unexpected = [k for k in state_dict if k not in own and not k.startswith(allow_unexpected or ("\0",))]
    shapes = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        def block(title, items):
            if not items:
                return ""
            shown = "\n    ".join(items[:20]) + (f"\n    ... and {len(items) - 20} more" if len(items) > 20 else "")
            return f"\n  {title} ({len(items)}):\n    {shown}"
        raise CheckpointMismatchError(
            f"checkpoint does not match {type(module).__name__}:"
            + block("missing in checkpoint", missing)
            + block("unexpected in checkpoint", unexpected)
            + block("shape mismatch", shapes)
            + "\n  Convert the checkpoint with the matching tools/convert_weights/ script, "
              "or pass the prefixes that may differ.")


def load_state_dict_checked(module: nn.Module, state_dict_or_path,
                            convert: Callable[[dict], dict] | None = None,
                            allow_missing: tuple[str, ...] = (),
                            allow_unexpected: tuple[str, ...] = ()) -> nn.Module:
    """Load a state dict (or checkpoint path) into ``module`` after :func:`check_state_dict`.

    ``convert`` maps foreign keys (torchvision, timm, official releases) to ours first.
    """
    sd = read_state_dict(state_dict_or_path) if isinstance(state_dict_or_path, str) else dict(state_dict_or_path)
    if convert is not None:
        sd = convert(sd)
    check_state_dict(module, sd, allow_missing, allow_unexpected)
    module.load_state_dict({k: v for k, v in sd.items() if k in module.state_dict()}, strict=False)
    return module
