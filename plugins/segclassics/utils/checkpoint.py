"""Reading and writing checkpoints: safely, and so that a mismatch is an error that names the keys.

Safety. Every checkpoint is read by :mod:`segclassics.utils.reader` (torch's weights-only
unpickler, or a restricted unpickler for detectron2's ``.pkl`` files; see there).

Mismatch. ``check_state_dict`` raises :class:`CheckpointMismatchError` listing missing,
unexpected and mis-shaped keys instead of a silent partial load (mmseg issues #1049 and #1288 are
users bitten by exactly that).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from .reader import read_checkpoint
from .writer import open_for_write


class CheckpointMismatchError(UserError, RuntimeError):
    """Keys or shapes of a checkpoint do not match the model."""


class CheckpointRangeError(CheckpointMismatchError):
    """A checkpoint's values do not fit the requested storage type (float16)."""


def load_checkpoint_file(path: str, *, trusted: bool = False, map_location: str = "cpu") -> Any:
    """:func:`segclassics.utils.reader.read_checkpoint` of a path or URL (kept under this name for
    the callers that read files)."""
    return read_checkpoint(path, trusted=trusted, map_location=map_location)


def state_dict_of(obj: Any, path: str = "checkpoint") -> dict:
    """The tensor state dict inside a loaded checkpoint (plain, or wrapped in ``state_dict`` /
    ``model`` / ``module``); detectron2 ``.pkl`` numpy arrays become tensors."""
    for key in ("state_dict", "model", "module"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise CheckpointMismatchError(f"{path!r} holds a {type(obj).__name__}, not a state dict")
    return {k: torch.from_numpy(np.asarray(v)) if isinstance(v, np.ndarray) else v for k, v in obj.items()}


def read_state_dict(path: str, *, trusted: bool = False) -> dict:
    """Read a checkpoint file safely (see :func:`load_checkpoint_file`) and return its state dict."""
    return state_dict_of(load_checkpoint_file(path, trusted=trusted), path)


# ----------------------------------------------------------------------------- writing


def _plain(value: Any, where: str) -> Any:
    """``value`` as JSON-like plain data (what a weights-only file may hold besides tensors)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} is not plain data (tensors, numbers, strings, lists, dicts)")


def save_weights_only(
    path: str, state_dict: Mapping[str, torch.Tensor], meta: Mapping | None = None, key: str = "state_dict"
) -> str:
    """Write ``{key: state_dict, 'meta': meta}`` so that ``torch.load(path)`` (weights-only) reads it
    with no allow-list: tensors and plain data only (``meta`` is converted, numpy to lists).

    ``key`` is where the framework's loader looks: ``'state_dict'`` for mmengine
    (``load_checkpoint``, mmseg's ``init_model``, mmdet's ``init_detector``), ``'model'`` for
    detectron2's ``DetectionCheckpointer``. The file is written next to ``path`` and renamed into
    place, so a reader never sees half a file.
    """
    with open_for_write(path) as f:
        torch.save(weights_only_payload(state_dict, meta, key), f)
    return path


def weights_only_payload(
    state_dict: Mapping[str, torch.Tensor], meta: Mapping | None = None, key: str = "state_dict"
) -> dict:
    """What :func:`save_weights_only` writes: ``{key: tensors on the CPU, 'meta': plain meta}``."""
    if key not in ("state_dict", "model"):
        raise ValueError(f"key must be 'state_dict' (mmengine) or 'model' (detectron2), got {key!r}")
    return {key: {k: v.detach().cpu() for k, v in state_dict.items()}, "meta": _plain(dict(meta or {}), "meta")}


def plain_meta(checkpoint: Any) -> dict:
    """The plain-data metadata of a loaded training checkpoint: mmengine's ``meta`` (dataset_meta
    with classes/palette, iteration, epoch, the config text, versions) or detectron2's
    ``iteration``. Entries that are not plain data are left out."""
    meta: dict = {}
    if not isinstance(checkpoint, Mapping):
        return meta
    for key, value in dict(checkpoint.get("meta") or {}).items():
        try:
            meta[str(key)] = _plain(value, f"meta.{key}")
        except TypeError:
            continue
    if isinstance(checkpoint.get("iteration"), int):
        # detectron2 stores the 0-based index of the last iteration run; mmengine's ``iter`` counts them
        meta.setdefault("iter", checkpoint["iteration"] + 1)
    return meta


def published_payload(
    src: str, *, trusted: bool = False, extra_meta: Mapping | None = None, half: bool = False
) -> dict:
    """The weights-only content (:func:`weights_only_payload`) of the checkpoint ``src`` (any
    framework's): no optimizer, no message hub, under the key its framework's loader reads.

    ``half``: store floating-point tensors as float16 (half the size; loading casts them back to
    the model's dtype). Integer buffers (BN's ``num_batches_tracked``) keep their type. A float32
    value beyond float16's range would become infinite: such a tensor is refused."""
    checkpoint = load_checkpoint_file(src, trusted=trusted)
    meta = plain_meta(checkpoint)
    meta.update(_plain(dict(extra_meta or {}), "meta"))
    meta.setdefault("source", os.path.basename(src))
    key = "model" if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("model"), Mapping) else "state_dict"
    state = state_dict_of(checkpoint, src)
    if half:
        state = {k: _to_half(v, k, src) for k, v in state.items()}
        meta["stored_dtype"] = "float16"
    return weights_only_payload(state, meta, key=key)


def _to_half(t: torch.Tensor, name: str, src: str) -> torch.Tensor:
    if not torch.is_tensor(t) or not t.is_floating_point():
        return t
    big = t.abs().max().item() if t.numel() else 0.0
    if big > torch.finfo(torch.float16).max:
        raise CheckpointRangeError(
            f"{src}: {name} holds {big:.4g}, beyond float16's range (65504); publish it without --fp16"
        )
    return t.half()


def publish_checkpoint(
    src: str, dst: str, *, trusted: bool = False, extra_meta: Mapping | None = None, half: bool = False
) -> str:
    """Write :func:`published_payload` of ``src`` to ``dst``: loadable with ``torch.load(dst)`` and
    by mmengine's/detectron2's own loaders with no allow-list."""
    with open_for_write(dst) as f:
        torch.save(published_payload(src, trusted=trusted, extra_meta=extra_meta, half=half), f)
    return dst


# ----------------------------------------------------------------------------- checking


def _listed(items: list, shown: int = 3) -> str:
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")


def check_state_dict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    allow_missing: tuple[str, ...] = (),
    allow_unexpected: tuple[str, ...] = (),
    source: str = "checkpoint",
) -> None:
    """The one check of a checkpoint's weights against the model they are loaded into, before
    anything is loaded: raise :class:`CheckpointMismatchError` (one line naming ``source``) for
    missing, unexpected and mis-shaped keys, and :class:`NonFiniteCheckpointError` for weights
    holding an infinity or a NaN (a diverged training's: predictions, metrics and exports from them
    are meaningless).

    ``allow_missing`` / ``allow_unexpected`` are key prefixes that may legitimately differ
    (e.g. a classifier that is re-initialised for a new number of classes).
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict and not k.startswith(allow_missing or ("\0",))]
    unexpected = [k for k in state_dict if k not in own and not k.startswith(allow_unexpected or ("\0",))]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} in the file vs {tuple(own[k].shape)} in the model"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = [
            f"{len(items)} {what} ({_listed(items)})"
            for items, what in (
                (missing, "weights of the model missing in the file"),
                (unexpected, "unexpected"),
                (shapes, "of another shape"),
            )
            if items
        ]
        raise CheckpointMismatchError(
            f"{source} does not match {type(module).__name__}: {'; '.join(parts)}; it holds another model's "
            f"weights: use the config it was trained with, or convert it with the matching converter "
            f"(python -m segclassics.tools.convert_weights.vgg16_torchvision or .vit_timm)"
        )
    check_finite_weights(state_dict, source)


class NonFiniteCheckpointError(CheckpointMismatchError):
    """A checkpoint's weights hold infinities or NaNs."""


def check_finite_weights(state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise :class:`NonFiniteCheckpointError` (naming ``source`` and the first tensor) when a
    floating-point weight holds an infinity or a NaN."""
    bad = [
        k
        for k, v in state_dict.items()
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        first = state_dict[bad[0]]
        count = int((~torch.isfinite(first)).sum())
        raise NonFiniteCheckpointError(
            f"{source}: {len(bad)} weight tensor(s) hold infinities or NaNs (e.g. {bad[0]}: {count} of "
            f"{first.numel()} values); the training that wrote it diverged, and predictions, metrics or an export "
            f"from it would be meaningless: use an earlier checkpoint"
        )


def check_shares_weights(
    module: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str, option: str, file_keys: list | None = None
) -> None:
    """A training's starting point (``load_from``, ``init_checkpoint``) may differ from the model
    in a few keys, not in all: raise :class:`CheckpointMismatchError` when no weight of
    ``state_dict`` (``module.`` prefixes aside, as mmengine strips them) fits the model."""
    own = module.state_dict()
    names = list(state_dict) if file_keys is None else list(file_keys)
    stripped = {(k[len("module.") :] if k.startswith("module.") else k): k for k in names}
    keys = list(stripped)
    fits = [
        k
        for k, name in stripped.items()
        if k in own and (file_keys is not None or tuple(state_dict[name].shape) == tuple(own[k].shape))
    ]
    if own and not fits:
        raise CheckpointMismatchError(
            f"{option} {source}: none of its {len(keys)} weights fits {type(module).__name__} (the file has "
            f"{_listed(sorted(keys)) or 'no weights'}; the model has {_listed(sorted(own))}), so the training would "
            f"start from random weights: it is another network's or framework's file; convert it with the matching "
            f"converter (python -m segclassics.tools.convert_weights.vgg16_torchvision or .vit_timm) or give the "
            f"right file"
        )


def load_state_dict_checked(
    module: nn.Module,
    state_dict_or_path,
    convert: Callable[[dict], dict] | None = None,
    allow_missing: tuple[str, ...] = (),
    allow_unexpected: tuple[str, ...] = (),
    source: str | None = None,
) -> nn.Module:
    """Load a state dict (or checkpoint path) into ``module`` after :func:`check_state_dict`.

    ``convert`` maps foreign keys (torchvision, timm, official releases) to ours first.
    """
    sd = read_state_dict(state_dict_or_path) if isinstance(state_dict_or_path, str) else dict(state_dict_or_path)
    if convert is not None:
        sd = convert(sd)
    source = source or (state_dict_or_path if isinstance(state_dict_or_path, str) else "checkpoint")
    check_state_dict(module, sd, allow_missing, allow_unexpected, source)
    module.load_state_dict({k: v for k, v in sd.items() if k in module.state_dict()}, strict=False)
    return module
