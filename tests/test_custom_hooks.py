"""``segclassics.openmmlab.custom_hooks.add_custom_hook``: each of our hooks is added to an mmengine
config's ``custom_hooks`` once, and a user's own entry for it is kept as written."""

from __future__ import annotations

import pytest

pytest.importorskip("mmengine")
from mmengine.config import Config  # noqa: E402

from segclassics.openmmlab.custom_hooks import add_custom_hook  # noqa: E402
from segclassics.openmmlab.non_finite_loss_hook import NonFiniteLossHook, enable_non_finite_loss_check  # noqa: E402
from segclassics.openmmlab.random_state_hook import RandomStateHook, enable_random_state_checkpoints  # noqa: E402


def test_added_once_after_the_users_hooks():
    cfg = Config(dict(custom_hooks=[dict(type="EMAHook")]))
    add_custom_hook(cfg, RandomStateHook)
    add_custom_hook(cfg, RandomStateHook)
    enable_random_state_checkpoints(cfg)
    assert cfg.custom_hooks == [dict(type="EMAHook"), dict(type="RandomStateHook")]


def test_a_users_entry_by_name_or_class_is_kept():
    cfg = Config(dict(custom_hooks=[dict(type="NonFiniteLossHook", interval=5)]))
    assert enable_non_finite_loss_check(cfg) is True
    assert cfg.custom_hooks == [dict(type="NonFiniteLossHook", interval=5)]
    by_class = Config(dict())
    by_class.custom_hooks = [dict(type=NonFiniteLossHook)]
    add_custom_hook(by_class, NonFiniteLossHook)
    assert by_class.custom_hooks == [dict(type=NonFiniteLossHook)]
    off = Config(dict(non_finite_loss_check=False))
    assert enable_non_finite_loss_check(off) is False and "custom_hooks" not in off
