"""Adding segclassics' mmengine hooks to a config's ``custom_hooks``, once."""

from __future__ import annotations


def add_custom_hook(cfg, hook_class: type) -> None:
    """Append ``dict(type=hook_class.__name__)`` to ``cfg.custom_hooks`` unless an entry already
    names that hook (by registered name or by class); the user's own entry, with its arguments,
    is kept as written."""
    hooks = list(cfg.get("custom_hooks", None) or [])
    name = hook_class.__name__
    if not any(h.get("type") in (name, hook_class) for h in hooks):
        hooks.append(dict(type=name))
    cfg.custom_hooks = hooks
