"""The one reader for every checkpoint and config file segclassics loads, by path or by name.

A ``.pth``/``.pkl`` checkpoint is a pickle, and a yaml config may carry python tags
(``!!python/object/apply:os.system``); loading either naively runs whatever code the file names.
Everything we load goes through here, whatever it is called by:

* **checkpoints** (:func:`read_checkpoint`): a local path, a file object or bytes, an
  ``http(s)://`` URL (downloaded into torch hub's cache, ``<hub dir>/checkpoints``, then read
  like a local file). The frameworks' own names (mmengine's ``torchvision://``,
  ``open-mmlab://``, ``mmcls://`` ..., detectron2's ``detectron2://``) are resolved to a URL or a
  file by thin glue (``segclassics.openmmlab.checkpoint_loading``,
  ``segclassics.detectron2.checkpointer``) and read here. A torch zip file is read with torch's
  weights-only unpickler, a raw pickle (detectron2's model-zoo ``.pkl``) with
  :class:`PlainDataUnpickler`; both build only containers, numbers, strings, tensors and numpy
  arrays, in every pickle protocol (0-5) and under both numpy generations' module names
  (``numpy.core`` and numpy >= 2's ``numpy._core``). mmengine's message-hub buffers are
  allow-listed by name (:data:`NUMPY_GLOBALS`, :func:`mmengine_globals`).
* **yaml** (:func:`read_yaml`, :func:`yaml_refusal`): ``yaml.safe_load`` only; a python tag is
  one refusal naming the file, the line and the tag.

A file that asks for anything else is refused with :class:`UnsafeCheckpointError` /
:class:`UnsafeConfigError`, one line naming the file and what it asked for. ``trusted=True``
(the tools' ``--trust-checkpoint``) is the explicit opt-in to a full unpickle of a checkpoint
whose origin the user vouches for; there is no such opt-in for configs.
"""

from __future__ import annotations

import _codecs
import contextlib
import io
import os
import pickle
import re
import sys
from typing import Any, BinaryIO, Optional, Union
from urllib.parse import urlparse

import numpy as np

from segclassics.errors import MissingFileError, UserError

__all__ = [
    "UnsafeCheckpointError",
    "UnsafeConfigError",
    "read_checkpoint",
    "read_yaml",
    "safe_load_yaml",
    "yaml_refusal",
    "is_url",
    "PlainDataUnpickler",
    "NUMPY_GLOBALS",
    "mmengine_globals",
    "trust_option",
]

Source = Union[str, bytes, BinaryIO]


class UnsafeCheckpointError(UserError, RuntimeError):
    """A checkpoint is not readable as plain data (it would need code to run), or is not a
    checkpoint at all."""


class UnsafeConfigError(UserError, RuntimeError):
    """A config file asks to construct Python objects (a yaml python tag)."""


class InvalidYamlError(UserError, ValueError):
    """A yaml file that cannot be read as yaml (its syntax, a duplicate or unhashable key, a bad
    byte): named with the line where the reading stopped."""


# ----------------------------------------------------------------------------- allow-lists


def _numpy_function(module: str, name: str):
    """numpy's own array reconstructors, found where this numpy keeps them (numpy 1 ``numpy.core``,
    numpy 2 ``numpy._core``; each generation also answers to the other's name)."""
    for candidate in (module, module.replace("numpy._core", "numpy.core"), module.replace("numpy.core", "numpy._core")):
        try:
            found = __import__(candidate, fromlist=[name])
            return getattr(found, name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {module}.{name}")


_RECONSTRUCT = _numpy_function("numpy.core.multiarray", "_reconstruct")
_SCALAR = _numpy_function("numpy.core.multiarray", "scalar")
_FROMBUFFER = _numpy_function("numpy.core.numeric", "_frombuffer")

#: numpy's reconstructors of arrays, dtypes and scalars under the names each numpy generation
#: pickles them with: they allocate from bytes and run nothing.
NUMPY_NAMES = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _RECONSTRUCT for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _SCALAR for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _FROMBUFFER for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{("numpy.dtypes", t.__name__): t for t in {type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDGSUV"}},
}
#: The same, as torch's ``add_safe_globals`` entries (object, or (object, pickled name)).
NUMPY_GLOBALS = [(obj, f"{module}.{name}") for (module, name), obj in NUMPY_NAMES.items()]

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


def history_buffer_statistic(*args):
    """Takes the place of ``builtins.getattr`` while unpickling, for exactly the calls mmengine's
    checkpoints make: ``getattr(HistoryBuffer, m)`` for its four statistics methods ``m``. Any
    other getattr is refused, so allowing this gives a pickle no way to reach other objects."""
    if len(args) == 2 and args[0] is _history_buffer_class() and args[1] in HISTORY_BUFFER_STATISTICS:
        return getattr(args[0], args[1], None)
    shown = ", ".join(getattr(a, "__qualname__", None) or repr(a)[:40] for a in args)
    raise pickle.UnpicklingError(f"Unsupported global: GLOBAL builtins.getattr({shown})")


def mmengine_globals() -> list:
    """The allow-list entries that make mmengine training checkpoints loadable.

    The real ``HistoryBuffer`` class when mmengine is in use (so mmengine's resume gets working
    objects), otherwise an :class:`InertRecord` under that name, so that reading weights needs no
    framework import; and :func:`history_buffer_statistic` under the name ``builtins.getattr``.
    """
    history_buffer = _history_buffer_class()
    entry = history_buffer if history_buffer is not InertRecord else (InertRecord, MMENGINE_HISTORY_BUFFER)
    return [entry, (history_buffer_statistic, "builtins.getattr")]


def latin1_bytes(text, encoding: str = "latin1"):
    """What Python 3 pickles ``bytes`` as in protocols 0-2: ``_codecs.encode(text, 'latin1')``.
    Only that encoding is taken, so the name gives a pickle no other codec."""
    if not isinstance(text, str) or encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"Unsupported global: GLOBAL _codecs.encode(..., {encoding!r})")
    return _codecs.encode(text, "latin1")


def _sized(kind):
    """``kind`` (bytes, bytearray) of a string or bytes only: ``bytes(10 ** 12)`` would make a
    pickle of a few bytes allocate a terabyte."""

    def build(*args):
        if not args:
            return kind()
        if len(args) <= 2 and isinstance(args[0], str):
            return kind(latin1_bytes(*args))
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray, list)):
            return kind(args[0])
        raise pickle.UnpicklingError(f"Unsupported global: GLOBAL builtins.{kind.__name__}(...)")

    build.__name__ = kind.__name__
    return build


#: Python's own containers as protocols 0-3 write them (``builtins`` and Python 2's ``__builtin__``)
BUILTIN_NAMES = {
    (module, kind.__name__): built
    for module in ("builtins", "__builtin__")
    for kind, built in (
        (set, set),
        (frozenset, frozenset),
        (complex, complex),
        (bytes, _sized(bytes)),
        (bytearray, _sized(bytearray)),
    )
}


class PlainDataUnpickler(pickle.Unpickler):
    """Builds only built-in containers and scalars, ``OrderedDict``, numpy arrays/dtypes/scalars
    (both numpy generations' names, every protocol) and ``bytes`` of protocols 0-2."""

    ALLOWED = {
        **NUMPY_NAMES,
        **BUILTIN_NAMES,
        ("_codecs", "encode"): latin1_bytes,
        ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    }

    def find_class(self, module, name):
        found = self.ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {module}.{name}")
        return found


# ----------------------------------------------------------------------------- messages

_TRUST_OPTION: list = []


@contextlib.contextmanager
def trust_option(option: str = "--trust-checkpoint"):
    """Within the block, refusals name ``option``, the running tool's opt-in; elsewhere (library
    calls, tools without one) they give the hint that works everywhere."""
    _TRUST_OPTION.append(option)
    try:
        yield
    finally:
        _TRUST_OPTION.pop()


def trust_hint() -> str:
    if _TRUST_OPTION:
        return (
            f"if you trust this file and its origin, pass {_TRUST_OPTION[-1]} (or trusted=True) to unpickle it "
            f"fully, then save a safe copy with segclassics-publish-model"
        )
    return (
        "if you trust this file and its origin, read it with trusted=True, or save a plain-data copy with "
        "segclassics-publish-model FILE OUT --trust-checkpoint"
    )


def _refusal(name: str, exc: BaseException, size: Optional[int]) -> UnsafeCheckpointError:
    """One message for whatever the unpicklers raised: a refused global names it; anything else
    means the bytes are not a checkpoint (truncated, random, another format)."""
    text = str(exc)
    found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+(?:\([^)]*\))?)", text)
    if found:
        return UnsafeCheckpointError(
            f"{name}: refused to load: the file asks to run {found.group(1)} while unpickling, which a "
            f"checkpoint of weights never needs; {trust_hint()}"
        )
    return UnsafeCheckpointError(
        f"{name}: not a readable checkpoint ({size if size is not None else '?'} bytes; expected a file written by "
        f"torch.save, or a detectron2 model-zoo .pkl); it may be truncated or not a checkpoint at all"
    )


# ----------------------------------------------------------------------------- checkpoints


def is_url(name: str) -> bool:
    return isinstance(name, str) and name.startswith(("http://", "https://"))


def url_cache_path(url: str, model_dir: Optional[str] = None, file_name: Optional[str] = None) -> str:
    """Where torch hub keeps the download of ``url`` (``load_state_dict_from_url``'s cache;
    ``file_name``: the name its caller chose instead of the URL's)."""
    import torch.hub

    folder = model_dir or os.path.join(torch.hub.get_dir(), "checkpoints")
    return os.path.join(folder, file_name or os.path.basename(urlparse(url).path) or "download")


def download(url: str, model_dir: Optional[str] = None, progress: bool = False, file_name: Optional[str] = None) -> str:
    """``url`` as a local file in torch hub's cache (downloaded once, as torch hub does; a name
    ``NAME-<sha256 prefix>.EXT`` is checked against its hash). Nothing is unpickled here."""
    import torch.hub

    cached = url_cache_path(url, model_dir, file_name)
    if not os.path.isfile(cached):
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        found = torch.hub.HASH_REGEX.search(os.path.basename(cached))
        try:
            torch.hub.download_url_to_file(url, cached, found.group(1) if found else None, progress=progress)
        except Exception as exc:  # noqa: BLE001 - network and hash failures become one line
            raise download_failed(url, exc) from None
    return cached


def download_failed(url: str, exc: BaseException) -> UnsafeCheckpointError:
    """The one line for a checkpoint address that could not be fetched (network, HTTP status,
    hash), whichever downloader tried: torch hub's here, detectron2's ``PathManager``."""
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return UnsafeCheckpointError(
        f"{url}: cannot download it ({type(exc).__name__}: {detail}); check the address, "
        f"or download it yourself and give the local file"
    )


def _head(source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:4])
    if isinstance(source, str):
        with open(source, "rb") as f:
            return f.read(4)
    position = source.tell()
    head = source.read(4)
    source.seek(position)
    return head


def _size(source) -> Optional[int]:
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    if isinstance(source, str):
        return os.path.getsize(source)
    try:
        return len(source.getbuffer())
    except AttributeError:
        return None


def require_checkpoint(path: str, name: Optional[str] = None) -> str:
    """``path`` when it is a file; otherwise :class:`MissingFileError` ``checkpoint not found: 'NAME'``
    (``name``: how the message names it, default ``path``). Every "checkpoint not found" is this one."""
    if not os.path.isfile(path):
        raise MissingFileError(f"checkpoint not found: {name or path!r}")
    return path


def read_checkpoint(
    source: Source,
    *,
    trusted: bool = False,
    map_location: Any = "cpu",
    name: Optional[str] = None,
    model_dir: Optional[str] = None,
) -> Any:
    """Unpickle a checkpoint as plain data (tensors, numbers, strings, containers, numpy arrays,
    mmengine's message-hub buffers).

    Args:
        source: a local path, an ``http(s)://`` URL (torch hub's cache), bytes or a binary file.
        trusted: unpickle fully: only for files whose origin you trust.
        map_location: as ``torch.load``.
        name: how messages name the source (default: the path or URL).
        model_dir: the download folder for a URL (default: torch hub's).

    Raises ``FileNotFoundError`` for a missing file and :class:`UnsafeCheckpointError` for a file
    that needs anything else (code that would run while loading) or is not a checkpoint.
    """
    import torch

    if isinstance(source, str):
        name = name or source
        if is_url(source):
            source = download(source, model_dir)
        source = os.path.expanduser(source)
        require_checkpoint(source, name)
    name = name or "checkpoint"
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    size = _size(source)
    try:
        # torch's files are zip archives (or its legacy pickle stream); detectron2's .pkl raw pickles
        if name.lower().endswith(".pkl") and _head(source)[:2] != b"PK":
            return _load_plain_pickle(source, trusted)
        if trusted:
            return torch.load(source, map_location=map_location, weights_only=False)  # explicit opt-in
        # only what is not allow-listed already: leaving the context removes its entries again,
        # which must not undo the process-wide allow-list mmengine's own loaders need
        # (openmmlab.checkpoint_loading.allow_mmengine_checkpoints)
        registered = set(torch.serialization.get_safe_globals())
        missing = [g for g in [*NUMPY_GLOBALS, *mmengine_globals()] if g not in registered]
        with torch.serialization.safe_globals(missing):
            return torch.load(source, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear message
        raise _refusal(name, exc, size) from exc


def _load_plain_pickle(source, trusted: bool = False) -> Any:
    """A raw pickle (detectron2 model zoo; Python 2 era files need ``latin1`` for their str)."""
    if isinstance(source, str):
        with open(source, "rb") as f:
            data = f.read()
    else:
        data = source.read()
    if trusted:
        return pickle.loads(data, encoding="latin1")  # noqa: S301 - explicit opt-in
    return PlainDataUnpickler(io.BytesIO(data), encoding="latin1").load()


# ----------------------------------------------------------------------------- yaml


def yaml_refusal(exc: BaseException, name: Optional[str] = None) -> Optional[UnsafeConfigError]:
    """The refusal for a yaml error that a python tag caused (``yaml.safe_load`` raises a
    ``ConstructorError`` for it), or None for any other error."""
    import yaml

    if not isinstance(exc, yaml.constructor.ConstructorError):
        return None
    text = str(getattr(exc, "problem", "") or exc)
    if "could not determine a constructor" not in text:  # e.g. an unhashable key: the file's syntax
        return None
    tag = re.search(r"tag '?(tag:yaml\.org,2002:)?([^'\s]+)'?", text)
    mark = getattr(exc, "problem_mark", None)
    where = name or (mark.name if mark is not None else "config")
    line = f":{mark.line + 1}" if mark is not None else ""
    asked = f"!!{tag.group(2)}" if tag else "a python object"
    return UnsafeConfigError(
        f"{where}{line}: refused to load: the yaml asks to construct {asked}, which runs "
        f"code; a config holds plain values only (numbers, strings, lists, mappings)"
    )


#: The most values a yaml document may hold once its aliases are expanded. A config has a few
#: thousand; nine nested aliases of ten (the "billion laughs" document) expand to 10**9 and would
#: take every later walk over the config (mmengine's ``ConfigDict``, printing, dumping) for ever.
YAML_EXPANDED_VALUES_LIMIT = 1_000_000


def check_yaml_size(data: Any, name: Optional[str] = None) -> Any:
    """``data`` (as ``yaml.safe_load`` built it) if it holds at most
    :data:`YAML_EXPANDED_VALUES_LIMIT` values with every alias expanded and refers to none of
    its own containers; else :class:`UnsafeConfigError` naming the file. Counts each shared
    container once (memoised), so the check is linear in the document, not in its expansion."""
    expanded: dict = {}
    open_containers: set = set()

    def count(value) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        if key in expanded:
            return expanded[key]
        if key in open_containers:
            raise UnsafeConfigError(
                f"{name or 'yaml document'}: refused to load: an alias refers to a "
                f"mapping or list that contains it (a recursive document); a config "
                f"is a tree of plain values"
            )
        open_containers.add(key)
        children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        total = 1
        for child in children:
            total += count(child)
            if total > YAML_EXPANDED_VALUES_LIMIT:
                raise UnsafeConfigError(
                    f"{name or 'yaml document'}: refused to load: its aliases expand to more than "
                    f"{YAML_EXPANDED_VALUES_LIMIT:,} values (nested aliases, as in a 'billion laughs' "
                    f"document); a config holds a few thousand values at most"
                )
        open_containers.discard(key)
        expanded[key] = total
        return total

    count(data)
    return data


def safe_load_yaml(stream, name: Optional[str] = None) -> Any:
    """``yaml.safe_load`` of ``stream`` (text, bytes or a file) as plain data: a python tag is
    refused (:class:`UnsafeConfigError` naming the file and line), and so is a document whose
    aliases expand past :data:`YAML_EXPANDED_VALUES_LIMIT` values. Every yaml we read (our
    tools, mmengine's yaml handler, detectron2's yaml configs) goes through here."""
    import yaml

    name = name or getattr(stream, "name", None)
    try:
        data = yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise (yaml_refusal(exc, name) or invalid_yaml(exc, name)) from None
    except UnicodeDecodeError as exc:  # a binary file given as a config
        where = name or "config"
        raise InvalidYamlError(f"{where}: not valid YAML: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return check_yaml_size(data, name)


def invalid_yaml(exc: BaseException, name: Optional[str] = None) -> InvalidYamlError:
    """The one line for a yaml syntax error: ``FILE:LINE: not valid YAML: PROBLEM``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = name or (mark.name if mark is not None else "config")
    line = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return InvalidYamlError(f"{where}{line}: not valid YAML: {problem}")


def read_yaml(path: str) -> Any:
    """The yaml document at ``path`` as plain data (:func:`safe_load_yaml`)."""
    with open(path, encoding="utf-8") as f:
        return safe_load_yaml(f, path)
