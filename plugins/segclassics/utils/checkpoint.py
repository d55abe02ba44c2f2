"""Reading and writing checkpoints: safely, and so that a mismatch is an error that names the keys.

Safety. A ``.pth``/``.pkl`` file is a pickle, and unpickling an arbitrary pickle runs arbitrary
code. Every checkpoint read here goes through torch's weights-only unpickler
(``torch.load(weights_only=True)``, the default since torch 2.6) or, for detectron2's ``.pkl``
model-zoo files, through a restricted unpickler that builds only dicts, lists, strings, numbers
and numpy arrays. What they refuse is refused with :class:`UnsafeCheckpointError`, naming the
file and the object the pickle asked for. Only an explicit ``trusted=True`` (the tools'
``--trust-checkpoint``) falls back to a full unpickle, for legacy files the user vouches for.

mmengine (0.10.7) pickles its message hub (``HistoryBuffer`` objects holding numpy arrays) into
every training checkpoint. Those classes, and numpy's array/dtype reconstructors, only rebuild
data; they are allow-listed by name (:data:`NUMPY_GLOBALS`, :func:`mmengine_globals`).

Mismatch. ``check_state_dict`` raises :class:`CheckpointMismatchError` listing missing,
unexpected and mis-shaped keys instead of a silent partial load (mmseg issues #1049 and #1288 are
users bitten by exactly that).
"""
from __future__ import annotations

import io
import os
import pickle
import re
import sys
import zipfile
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from .atomic_write import atomic_write


class CheckpointMismatchError(RuntimeError):
    """Keys or shapes of a checkpoint do not match the model."""


class CheckpointRangeError(CheckpointMismatchError):
    """A checkpoint's values do not fit the requested storage type (float16)."""


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint file is not readable as plain data (it would need code to run), or is not a
    checkpoint at all."""


TRUST_HINT = ("if you trust this file and its origin, pass --trust-checkpoint (or trusted=True) to "
              "unpickle it fully, then save a safe copy with tools/publish_model.py")

# numpy's own reconstructors: they allocate an array / dtype / scalar from bytes and run nothing.
NUMPY_GLOBALS = [np.core.multiarray._reconstruct, np.ndarray, np.dtype, np.core.multiarray.scalar,
                 *{type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDGSUV"}]
MMENGINE_HISTORY_BUFFER = "mmengine.logging.history_buffer.HistoryBuffer"
# HistoryBuffer pickles references to its four statistics methods as getattr(HistoryBuffer, name).
HISTORY_BUFFER_STATISTICS = ("min", "max", "current", "mean")


class InertRecord:
    """Stands in for a pickled object whose data is all we need (mmengine's ``HistoryBuffer`` in a
    checkpoint read only for its weights): keeps the pickled state, has no behaviour."""

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


def _history_buffer_class():
    module = sys.modules.get("mmengine.logging.history_buffer")
    return module.HistoryBuffer if module is not None else InertRecord


def history_buffer_statistic(owner, name):
    """Takes the place of ``builtins.getattr`` while unpickling, for exactly the calls mmengine's
    checkpoints make: ``getattr(HistoryBuffer, m)`` for its four statistics methods ``m``. Any
    other getattr is refused, so allowing this gives a pickle no way to reach other objects."""
    if owner is _history_buffer_class() and name in HISTORY_BUFFER_STATISTICS:
        return getattr(owner, name, None)
    owner_name = getattr(owner, "__qualname__", type(owner).__name__)
    raise pickle.UnpicklingError(f"Unsupported global: GLOBAL builtins.getattr({owner_name}, {name!r})")


def mmengine_globals() -> list:
    """The allow-list entries that make mmengine training checkpoints loadable.

    The real ``HistoryBuffer`` class when mmengine is in use (so mmengine's resume gets working
    objects), otherwise an :class:`InertRecord` under that name, so that reading weights needs no
    framework import; and :func:`history_buffer_statistic` under the name ``builtins.getattr``.
    """
    history_buffer = _history_buffer_class()
    entry = history_buffer if history_buffer is not InertRecord else (InertRecord, MMENGINE_HISTORY_BUFFER)
    return [entry, (history_buffer_statistic, "builtins.getattr")]


def allow_mmengine_checkpoints() -> None:
    """Allow-list, process-wide, exactly the classes mmengine's checkpoints hold besides tensors,
    so that mmengine's own loaders (``load_checkpoint``, ``Runner.resume``, mmseg's
    ``init_model``, mmdet's ``init_detector``) read them under torch's ``weights_only=True``."""
    import mmengine.logging.history_buffer  # noqa: F401  (so mmengine_globals() names the real class)
    torch.serialization.add_safe_globals([*NUMPY_GLOBALS, *mmengine_globals()])


# ----------------------------------------------------------------------------- reading

def _is_detectron2_pickle(path: str) -> bool:
    """detectron2's model-zoo ``.pkl`` files are raw pickles, not torch's zip format."""
    return path.endswith(".pkl") and not zipfile.is_zipfile(path)


class _PlainDataUnpickler(pickle.Unpickler):
    """Builds only built-in containers/scalars, ``OrderedDict`` and numpy arrays."""

    ALLOWED = {("collections", "OrderedDict")} | {
        (obj.__module__, obj.__qualname__) for obj in NUMPY_GLOBALS} | {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"), ("numpy", "dtype"),
        ("numpy", "ndarray")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {module}.{name}")


def _refusal(path: str, exc: BaseException) -> UnsafeCheckpointError:
    """One message for whatever the unpicklers raised: a refused global names it; anything else
    means the bytes are not a checkpoint (truncated, random, another format)."""
    text = str(exc)
    found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+(?:\([^)]*\))?)", text)
    if found:
        return UnsafeCheckpointError(
            f"{path}: refused to load: the file asks to run {found.group(1)} while unpickling, which a "
            f"checkpoint of weights never needs; {TRUST_HINT}")
    size = os.path.getsize(path)
    return UnsafeCheckpointError(
        f"{path}: not a readable checkpoint ({size} bytes; expected a file written by torch.save, or a "
        f"detectron2 model-zoo .pkl); it may be truncated or not a checkpoint at all")


def load_checkpoint_file(path: str, *, trusted: bool = False, map_location: str = "cpu") -> Any:
    """Unpickle the checkpoint at ``path`` as plain data (tensors, numbers, strings, containers,
    numpy arrays, mmengine's message-hub buffers).

    Raises ``FileNotFoundError`` for a missing file and :class:`UnsafeCheckpointError` for a file
    that needs anything else (code that would run while loading) or is not a checkpoint. With
    ``trusted=True`` the file is unpickled fully: only for files whose origin you trust.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path!r}")
    if _is_detectron2_pickle(path):
        with open(path, "rb") as f:
            data = f.read()
        try:
            if trusted:
                return pickle.loads(data, encoding="latin1")  # noqa: S301 - explicit opt-in
            return _PlainDataUnpickler(io.BytesIO(data), encoding="latin1").load()
        except Exception as exc:  # noqa: BLE001 - every failure becomes one clear message
            raise _refusal(path, exc) from exc
    try:
        if trusted:
            return torch.load(path, map_location=map_location, weights_only=False)  # explicit opt-in
        # only what is not allow-listed already: leaving the context removes its entries again,
        # which must not undo allow_mmengine_checkpoints() for mmengine's own loaders
        registered = set(torch.serialization.get_safe_globals())
        missing = [g for g in [*NUMPY_GLOBALS, *mmengine_globals()] if g not in registered]
        with torch.serialization.safe_globals(missing):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise _refusal(path, exc) from exc


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
    raise TypeError(f"{where}: {type(value).__name__} is not plain data (tensors, numbers, strings, "
                    f"lists, dicts)")


def save_weights_only(path: str, state_dict: Mapping[str, torch.Tensor], meta: Mapping | None = None,
                      key: str = "state_dict") -> str:
    """Write ``{key: state_dict, 'meta': meta}`` so that ``torch.load(path)`` (weights-only) reads it
    with no allow-list: tensors and plain data only (``meta`` is converted, numpy to lists).

    ``key`` is where the framework's loader looks: ``'state_dict'`` for mmengine
    (``load_checkpoint``, mmseg's ``init_model``, mmdet's ``init_detector``), ``'model'`` for
    detectron2's ``DetectionCheckpointer``. The file is written next to ``path`` and renamed into
    place, so a reader never sees half a file.
    """
    if key not in ("state_dict", "model"):
        raise ValueError(f"key must be 'state_dict' (mmengine) or 'model' (detectron2), got {key!r}")
    payload = {key: {k: v.detach().cpu() for k, v in state_dict.items()},
               "meta": _plain(dict(meta or {}), "meta")}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path) as f:
        torch.save(payload, f)
    return path


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


def publish_checkpoint(src: str, dst: str, *, trusted: bool = False, extra_meta: Mapping | None = None,
                       half: bool = False) -> str:
    """Write the weights of the checkpoint ``src`` (any framework's) to ``dst`` as a weights-only
    file (:func:`save_weights_only`): no optimizer, no message hub, loadable with
    ``torch.load(dst)`` and by mmengine's/detectron2's own loaders with no allow-list.

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
    return save_weights_only(dst, state, meta, key=key)


def _to_half(t: torch.Tensor, name: str, src: str) -> torch.Tensor:
    if not torch.is_tensor(t) or not t.is_floating_point():
        return t
    big = t.abs().max().item() if t.numel() else 0.0
    if big > torch.finfo(torch.float16).max:
        raise CheckpointRangeError(f"{src}: {name} holds {big:.4g}, beyond float16's range (65504); publish it "
                                   f"without --fp16")
    return t.half()


# ----------------------------------------------------------------------------- checking

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
