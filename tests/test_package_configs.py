"""Packaged configs: ``segclassics::REL`` names ``<segclassics>/.mim/configs/REL`` and works as a
``_base_`` of a user's own config once ``enable_config_prefix`` ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import REPO
from segclassics.errors import UserError
from segclassics.utils import package_configs

CONFIG_SUFFIXES = {".py", ".yaml", ".yml"}


def config_files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.suffix in CONFIG_SUFFIXES and "__pycache__" not in p.parts
    }


def test_packaged_configs_are_the_checkouts_configs():
    root = Path(package_configs.configs_root())
    assert root == Path(package_configs.__file__).parents[1] / ".mim" / "configs"
    assert config_files(root) == config_files(REPO / "configs")
    assert (
        Path(package_configs.resolve("segclassics::unet/unet_synthetic.py")).read_bytes()
        == (REPO / "configs" / "unet" / "unet_synthetic.py").read_bytes()
    )


@pytest.mark.parametrize(
    "ref, message",
    [
        ("segclassics::unet/no_such.py", "'segclassics::unet/no_such.py': no such packaged config"),
        ("segclassics::../pyproject.toml", "'segclassics::../pyproject.toml': no such packaged config"),
        ("segclassics::/etc/passwd", "'segclassics::/etc/passwd': no such packaged config"),
        ("configs/unet/unet_synthetic.py", "'configs/unet/unet_synthetic.py' is not a packaged config reference"),
    ],
)
def test_bad_references_are_refused(ref, message):
    with pytest.raises(UserError) as info:
        package_configs.resolve(ref)
    assert str(info.value).startswith(message)


def test_command_line_prints_the_file(capsys):
    assert package_configs.main(["segclassics::_base_/default_runtime.py"]) == 0
    assert capsys.readouterr().out == package_configs.resolve("segclassics::_base_/default_runtime.py") + "\n"
    assert package_configs.main(["segclassics::nope.py"]) == 2
    assert capsys.readouterr().err.startswith("error: 'segclassics::nope.py': no such packaged config")


USER_CONFIG = """\
_base_ = ['segclassics::unet/unet_synthetic.py']
model = dict(decode_head=dict(num_classes=3))
train_dataloader = dict(dataset=dict(data_root='my_data'))
"""


def test_user_config_inherits_a_packaged_config(tmp_path):
    """A config outside the checkout builds on ours; our dicts keep building in the scope our
    config names (no ``_scope_='segclassics'`` that no registry has)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    from segclassics.openmmlab.config_prefix import enable_config_prefix

    enable_config_prefix()
    enable_config_prefix()  # idempotent: one wrapper, not two
    assert Config._get_cfg_path.segclassics_prefix is True
    assert Config._get_cfg_path.__code__.co_filename.endswith("config_prefix.py")
    (tmp_path / "my_unet.py").write_text(USER_CONFIG)
    cfg = Config.fromfile(str(tmp_path / "my_unet.py"))
    assert cfg.default_scope == "mmseg"
    assert cfg.model.decode_head.num_classes == 3 and cfg.model.backbone.type == "PaperUNetEncoder"
    assert cfg.train_dataloader.dataset.data_root == "my_data"
    assert cfg.val_dataloader.dataset.data_root == "data/synthetic"
    assert "_scope_" not in cfg.model and "_scope_" not in cfg.train_dataloader.dataset
    import segclassics.mmseg  # noqa: F401

    init_default_scope(cfg.default_scope)
    with torch.device("meta"):
        model = MODELS.build(cfg.model)  # mmengine's root registry, as its Runner builds
    assert model.decode_head.num_classes == 3


def test_other_packages_bases_still_go_to_mmengine(tmp_path):
    from mmengine.config import Config

    from segclassics.openmmlab.config_prefix import enable_config_prefix

    enable_config_prefix()
    (tmp_path / "cfg.py").write_text("_base_ = ['mmseg::_base_/models/fcn_r50-d8.py']\n")
    cfg = Config.fromfile(str(tmp_path / "cfg.py"))
    assert cfg.model._scope_ == "mmseg"  # mmengine's own handling of an OpenMMLab package's base


def test_unknown_packaged_base_is_one_clear_error(tmp_path):
    from mmengine.config import Config

    from segclassics.openmmlab.config_prefix import enable_config_prefix

    enable_config_prefix()
    (tmp_path / "cfg.py").write_text("_base_ = ['segclassics::unet/unet_synthtic.py']\n")
    with pytest.raises(UserError, match=r"^'segclassics::unet/unet_synthtic.py': no such packaged config"):
        Config.fromfile(str(tmp_path / "cfg.py"))
