"""Load any config we run (mmengine for mmseg/mmdet, detectron2 LazyConfig or yaml), apply the
user's overrides, and build its model: the one place that does this for train, test, infer,
export and the benchmark.

Overrides are ``KEY=VALUE`` strings in the framework's own syntax (mmengine's ``--cfg-options``
via :class:`mmengine.config.DictAction`; detectron2's ``LazyConfig.apply_overrides`` /
``CfgNode.merge_from_list``). A key that the config does not have is refused with the closest
existing keys, unless it names a constructor argument of the class the enclosing dict builds
(``model.backbone.with_cp=True`` is a real option even when the config leaves it at its
default). Frameworks would otherwise add the unknown key and ignore it, so a misspelt or
other-framework key (``train_cfg.max_iters`` on a detectron2 config) would change nothing.

Config references: a path; ``mmseg::``/``mmdet::`` configs packaged with those libraries; and
``segclassics::REL``, our configs shipped in the package (``<package>/.mim/configs/REL``, the
layout mmengine uses for OpenMMLab packages; see :mod:`segclassics.utils.package_configs`).
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch

from segclassics.utils.reader import UnsafeConfigError

from ..errors import UserError
from .backends import backend_of_kind
from .config_kind import detect_config_kind

# Top-level mmengine keys that a config may leave out but an override may set: what mmengine's
# Runner reads besides the Runner constructor's arguments, and segclassics' own run options.
EXTRA_MMENGINE_TOP_LEVEL_KEYS = {"runner_type", "model_wrapper_cfg", "find_unused_parameters", "non_finite_loss_check"}
# Top-level keys read after loading besides those: test-time augmentation (mmseg's tools/test.py
# --tta, ours), the test pipeline (mmseg's inference_model), the custom imports and FlexibleRunner's
# options. Every other top-level key of a config file is a variable of the file (crop_size,
# max_iters, optimizer, train_pipeline, ...): mmengine copied its value into the entries that use it
# when it read the file, so an override of it afterwards changes nothing the run uses.
READ_MMENGINE_TOP_LEVEL_KEYS = {"tta_model", "tta_pipeline", "test_pipeline", "custom_imports", "compile", "strategy"}


@dataclass
class LoadedConfig:
    """A loaded, overridden config.

    Attributes:
        path: the reference as given (a path, ``segclassics::...``, ``mmseg::...``).
        file: the config file it resolved to (same as ``path`` for ``mmseg::``/``mmdet::``).
        kind: ``config_kind.MMENGINE`` / ``D2_LAZY`` / ``D2_YAML`` (its backend: ``backend``).
        cfg: ``mmengine.Config`` / LazyConfig ``DictConfig`` / detectron2 ``CfgNode`` (not frozen).
    """

    path: str
    file: str
    kind: str
    cfg: Any

    @property
    def backend(self):
        """The :class:`~.backends.base.Backend` of this config's kind."""
        return backend_of_kind(self.kind)

    @property
    def framework(self) -> str:
        """``'mmseg'``, ``'mmdet'`` or ``'detectron2'``."""
        return self.backend.framework(self.cfg)


# ----------------------------------------------------------------------------- references


def resolve_config_path(path: str) -> str:
    """The file behind a config reference (``segclassics::REL`` -> packaged file, see
    :mod:`segclassics.utils.package_configs`); other references are returned unchanged."""
    from segclassics.utils.package_configs import is_packaged_reference, resolve

    return resolve(path) if is_packaged_reference(path) else path


# ----------------------------------------------------------------------------- loading


def load_config(path: str, overrides: Sequence[str] = ()) -> LoadedConfig:
    """Load ``path`` (see module docstring) and apply ``overrides`` (``KEY=VALUE`` strings; ``data_root=DIR``
    moves every dataset path of the config, see :mod:`.backends`)."""
    file = resolve_config_path(path)
    kind = detect_config_kind(file)
    overrides = list(overrides or [])
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r} is not KEY=VALUE")
    return LoadedConfig(path=path, file=file, kind=kind, cfg=backend_of_kind(kind).load(file, overrides))


def _run_config(load, file: str, kind: str):
    """``load(file)``; whatever running the config's code raised is the config's error, one line
    at the config line that raised it (a NameError, an import that fails, a division by zero ...)."""
    try:
        return load(file)
    except (UserError, UnsafeConfigError):
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise _config_error(file, exc, kind) from exc


def _config_error(file: str, exc: BaseException, kind: str) -> UserError:
    """The one line for an exception raised while a config file's code ran."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    configs = [
        f
        for f in frames
        if f.filename == file
        or not f.filename.startswith(("/usr", "<"))
        and "site-packages" not in f.filename
        and "/segclassics/" not in f.filename
    ]
    where = f"{configs[-1].filename}:{configs[-1].lineno}" if configs else file
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = f"{exc.filename or file}:{exc.lineno}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return UserError(f"{where}: cannot load this {kind} config: {type(exc).__name__}: {text}")


def _literal(text: str):
    """An override's value as LazyConfig and yacs parse it: a Python literal, or the text itself."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _current(cfg, key: str):
    """The config's value at the dotted ``key``, or None where it has none."""
    node = cfg
    for part in key.split("."):
        node = _child(node, part)
        if node is _MISSING:
            return None
    return node


def _whole_containers(cfg, options: dict) -> dict:
    """``options`` for mmengine's ``merge_from_dict``, where an override that reaches into a tuple or
    sets a plain element of a list (``model.data_preprocessor.size.0=32``,
    ``model.backbone.out_indices.1=3``) becomes the replacement of that whole tuple or list: mmengine
    merges list indices only into dicts held by a list, and refuses tuples (a TypeError or
    AttributeError traceback instead of the override)."""
    merged: dict = {}
    for key, value in options.items():
        parts = key.split(".")
        node, cut = cfg, None
        for i, part in enumerate(parts[:-1]):
            node = _child(node, part)
            if isinstance(node, (list, tuple)) and (
                isinstance(node, tuple) or not isinstance(_child(node, parts[i + 1]), dict)
            ):
                cut = i + 1  # the outermost such container: replaced whole
                break
        if cut is None:
            merged[key] = value
            continue
        outer = ".".join(parts[:cut])
        whole = merged.get(outer, _current(cfg, outer))
        merged[outer] = _replaced(whole, parts[cut:], value)
    return merged


def _replaced(node, parts, value):
    """A copy of ``node`` (nested tuples, lists and dicts) with the element at ``parts`` set to ``value``."""
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if isinstance(node, (list, tuple)):
        items = list(node)
        items[int(head)] = _replaced(items[int(head)], rest, value)
        return type(node)(items) if isinstance(node, tuple) else items
    copy = dict(node)
    copy[head] = _replaced(copy[head], rest, value)
    return copy


def _check_value(key: str, value, current, file: str) -> None:
    from segclassics.utils.override_values import OverrideValueError, check_override_value

    try:
        check_override_value(key, value, current, file)
    except OverrideValueError as exc:
        raise UserError(str(exc)) from None


# ----------------------------------------------------------------------------- override keys

_MISSING = object()


def _child(node, part: str):
    """``node[part]`` for a mapping or (numeric part) a list; ``_MISSING`` if absent."""
    if isinstance(node, Sequence) and not isinstance(node, str):  # also omegaconf's ListConfig
        if part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            return node[int(part)]
        return _MISSING
    try:
        return node[part] if part in node else _MISSING
    except TypeError:
        return _MISSING


def _accepts(target, name: str) -> bool:
    """Whether calling ``target`` (a class or function) accepts the keyword ``name``."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return True  # cannot tell: do not refuse
    return name in signature.parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
    )


def _unknown_key(file: str, key: str, known_prefix: str, siblings: Iterable[str], hint: str = "") -> UserError:
    siblings = sorted(str(s) for s in siblings)
    leaf = key[len(known_prefix) :].lstrip(".").split(".")[0]
    close = difflib.get_close_matches(leaf, siblings, n=3)
    where = f"'{known_prefix}'" if known_prefix else "the top level"
    suggestion = (
        f"; did you mean {', '.join(repr(f'{known_prefix}.{c}'.lstrip('.')) for c in close)}?"
        if close
        else f"; keys at {where}: {', '.join(siblings[:15])}{' ...' if len(siblings) > 15 else ''}"
    )
    return UserError(f"unknown config key {key!r} for {file}: {where} has no {leaf!r}{suggestion}{hint}")


def _mm_type_target(node, scope: str):
    """The class/function an mmengine config dict with ``type`` builds, or None if unknown."""
    type_ = node.get("type") if hasattr(node, "get") else None
    if type_ is None:
        return None
    if not isinstance(type_, str):
        return type_
    import importlib

    from mmengine.registry import Registry

    for module_name in (f"{scope}.registry", "mmengine.registry"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for registry in vars(module).values():
            if isinstance(registry, Registry):
                found = registry.get(type_)
                if found is not None:
                    return found
    return None


def _holders(node, value, prefix: str = "", found: list | None = None, skip: str = "") -> list:
    """The keys under ``node`` whose value equals ``value`` (a dict, list or scalar), ``skip`` left out."""
    found = [] if found is None else found
    items = node.items() if hasattr(node, "items") else enumerate(node) if isinstance(node, (list, tuple)) else ()
    for k, child in items:
        key = f"{prefix}.{k}".lstrip(".")
        if key == skip:
            continue
        try:
            equal = type(child) is type(value) and child == value  # a copy has the type too (1 is not True)
        except Exception:  # noqa: BLE001 - values that do not compare are not copies
            equal = False
        if equal:
            found.append(key)
        else:
            _holders(child, value, key, found, skip)
    return found


def _variable_override(cfg, key: str, value, file: str, top_level_ok: set) -> UserError | None:
    """The refusal of an override of a config file's variable (a top-level key the run never reads), or None."""
    read = top_level_ok | READ_MMENGINE_TOP_LEVEL_KEYS
    top = key.split(".")[0]
    current = _child(cfg._cfg_dict, top)
    if top in read or current is _MISSING:
        return None
    # None holds a place in many entries that have nothing to do with the variable: not named
    holders = (
        [] if current is None else [k for k in _holders(cfg._cfg_dict, current, skip=top) if k.split(".")[0] in read]
    )
    where = (
        f"; the entries that hold its value now: {', '.join(holders[:4])}{' ...' if len(holders) > 4 else ''}"
        if holders
        else ""
    )
    return UserError(
        f"override {key}={value!r} for {file}: {top!r} is a variable of the config file, which mmengine copied "
        f"into the entries that use it when it read the file, so changing it now would change nothing the run uses; "
        f"override those entries instead{where}"
    )


def _check_mmengine_keys(cfg, options: dict, file: str) -> None:
    from mmengine.runner import Runner

    top_level_ok = set(inspect.signature(Runner.__init__).parameters) | EXTRA_MMENGINE_TOP_LEVEL_KEYS
    scope = cfg.get("default_scope")
    for key in options:
        refusal = _variable_override(cfg, key, options[key], file, top_level_ok)
        if refusal is not None:
            raise refusal
        parts = key.split(".")
        node, prefix = cfg._cfg_dict, ""
        for i, part in enumerate(parts):
            child = _child(node, part)
            if child is _MISSING:
                is_leaf = i == len(parts) - 1
                if i == 0 and part in top_level_ok:
                    break
                target = _mm_type_target(node, scope) if is_leaf else None
                if target is not None and _accepts(target, part):
                    break
                keys = range(len(node)) if isinstance(node, (list, tuple)) else node.keys()
                raise _unknown_key(file, key, prefix, keys)
            node, prefix = child, f"{prefix}.{part}".lstrip(".")


def _check_lazy_key(cfg, key: str, file: str) -> None:
    from omegaconf import DictConfig, ListConfig

    parts = key.split(".")
    node, prefix = cfg, ""
    for i, part in enumerate(parts):
        if isinstance(node, ListConfig):
            child = _child(node, part)
        elif isinstance(node, DictConfig):
            child = node[part] if part in node else _MISSING
        else:
            child = _MISSING
        if child is _MISSING:
            if i == len(parts) - 1 and isinstance(node, DictConfig) and "_target_" in node:
                target = node["_target_"]
                if isinstance(target, str):
                    from detectron2.utils.registry import locate

                    target = locate(target)
                if _accepts(target, part):
                    return
            keys = (
                range(len(node))
                if isinstance(node, ListConfig)
                else (node.keys() if isinstance(node, DictConfig) else [])
            )
            hint = (
                (
                    " (mmengine-style keys such as train_cfg.max_iters do not exist in detectron2 configs; "
                    "the schedule is train.max_iter)"
                )
                if parts[0] in ("train_cfg", "optim_wrapper", "train_dataloader")
                else ""
            )
            raise _unknown_key(file, key, prefix, keys, hint)
        node, prefix = child, f"{prefix}.{part}".lstrip(".")


# ----------------------------------------------------------------------------- building


def build_model(loaded: LoadedConfig, device: str = "cpu") -> torch.nn.Module:
    """Build the config's model as its framework does, on ``device``, in training mode."""
    return loaded.backend.build_model(loaded, device)
