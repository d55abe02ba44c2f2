"""``data_root=DIR``: the one override that moves every dataset path of a config.

For each shipped config the resolved config is compared with and without the override, leaf by
leaf: every dataset root becomes DIR, every other path that lay under an old root (mmdet
evaluators' ``ann_file`` / ``image_root``) now lies under DIR, and nothing else changes.
"""

from __future__ import annotations

import os

import pytest

from helpers import REPO, SHIPPED_CONFIGS
from segclassics.engine.config_kind import D2_LAZY, D2_YAML, MMENGINE, detect_config_kind
from segclassics.engine.config_loader import load_config
from segclassics.errors import UserError

CONFIGS = sorted(str(p.relative_to(REPO)) for p in SHIPPED_CONFIGS)
MOVED = "/elsewhere/moved-data"
READ_BY_THE_RUNNER = ("train_dataloader", "val_dataloader", "test_dataloader", "val_evaluator", "test_evaluator")
# LazyConfigs naming datasets registered by name (moved by an environment variable)
REGISTERED_BY_NAME = {
    "configs/detectron2/fcn8s-atonce_vgg16_voc12aug.py",
    "configs/detectron2/mask_rcnn_R_18_FPN_isbi2012.py",
    "configs/detectron2/mask_rcnn_R_50_FPN_coco.py",
    "configs/detectron2/mask_rcnn_R_50_FPN_isbi2012.py",
    "configs/detectron2/mask_rcnn_R_50_FPN_voc_tiny.py",
    "configs/detectron2/mask_rcnn_VGG16_FPN_isbi2012.py",
    "configs/detectron2/mask_rcnn_ViT_SFP_isbi2012.py",
}


def _leaves(node, key=""):
    """``{dotted key: value}`` of every leaf of a resolved config (mmengine, LazyConfig)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, (DictConfig, ListConfig)):
        node = OmegaConf.to_container(node, resolve=True)
    if hasattr(node, "to_dict"):
        node = node.to_dict()
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(_leaves(v, f"{key}.{k}".lstrip(".")))
        return out
    if isinstance(node, (list, tuple)):
        out = {}
        for i, v in enumerate(node):
            out.update(_leaves(v, f"{key}.{i}"))
        return out
    return {key: node}


def _under(path, root: str) -> bool:
    return isinstance(path, str) and (path.rstrip("/") == root.rstrip("/") or path.startswith(root.rstrip("/") + "/"))


@pytest.mark.parametrize("config", CONFIGS)
def test_data_root_moves_every_dataset_path(config):
    kind = detect_config_kind(str(REPO / config))
    if kind == D2_YAML or config in REGISTERED_BY_NAME:  # datasets registered by name: refused, saying why
        with pytest.raises(UserError) as err:
            load_config(str(REPO / config), [f"data_root={MOVED}"])
        assert str(err.value).startswith(f"data_root={MOVED} for {REPO / config}: ")
        assert "registered by name (" in str(err.value)
        assert str(err.value).endswith("=DIR in the environment instead")  # the variable that moves them
        return
    root_name = "data_root" if kind == MMENGINE else "root"
    before = _leaves(load_config(str(REPO / config)).cfg)
    after = _leaves(load_config(str(REPO / config), [f"data_root={MOVED}"]).cfg)
    read = ("dataloader",) if kind != MMENGINE else READ_BY_THE_RUNNER
    old_roots = {v for k, v in before.items() if k.split(".")[-1] == root_name and k.split(".")[0] in read}
    assert old_roots, f"{config}: no dataset root in the config"
    dataset_roots = [k for k in after if k.split(".")[-1] == root_name and k.split(".")[0] in read]
    assert {after[k] for k in dataset_roots} == {MOVED}
    loaders = {k.split(".")[0] for k in dataset_roots}
    assert loaders == (
        {"train_dataloader", "val_dataloader", "test_dataloader"} & {k.split(".")[0] for k in before}
        if kind == MMENGINE
        else {"dataloader"}
    )
    for key, value in before.items():
        if key.split(".")[0] in read and any(_under(value, old) for old in old_roots):
            assert _under(after[key], MOVED), (key, value, after[key])  # a path the run reads: moved
        elif key != "data_root":  # anything else (config variables no loader reads included) as it was
            assert after[key] == value, (key, value, after[key])
    assert set(after) == set(before) | ({"data_root"} if kind == MMENGINE else set())


@pytest.mark.parametrize("config", CONFIGS)
def test_real_data_defaults_do_not_depend_on_the_working_directory(config, tmp_path, monkeypatch):
    """A config loaded from another folder resolves to the same paths, and every default under
    ``../shared/data`` is the absolute folder beside the checkout (``SHARED_DATA``)."""
    from segclassics.datasets.paths import SHARED_DATA

    monkeypatch.chdir(REPO)
    from_checkout = _leaves(load_config(str(REPO / config)).cfg)
    monkeypatch.chdir(tmp_path)
    elsewhere = _leaves(load_config(str(REPO / config)).cfg)
    assert elsewhere == from_checkout
    shared = {k: v for k, v in elsewhere.items() if isinstance(v, str) and "shared/data" in v}
    for key, value in shared.items():
        assert os.path.isabs(value) and os.path.normpath(value).startswith(SHARED_DATA + os.sep), (key, value)


def test_data_root_moves_the_mmdet_evaluator_files():
    # an independent fact for one config: the COCO metric's files under the new root
    cfg = load_config(
        str(REPO / "configs/mask_rcnn/mask-rcnn_r50_fpn_gn-scratch_isbi2012.py"), [f"data_root={MOVED}"]
    ).cfg
    assert cfg.val_evaluator.ann_file == f"{MOVED}/instances/val.json"
    assert cfg.val_evaluator.image_root == MOVED
    assert cfg.train_dataloader.dataset.data_root == MOVED
    assert cfg.train_dataloader.dataset.ann_file == "instances/train.json"  # relative to data_root


def test_a_later_override_still_wins_over_data_root():
    cfg = load_config(
        str(REPO / "configs/unet/unet_synthetic.py"), [f"data_root={MOVED}", "val_dataloader.dataset.data_root=/other"]
    ).cfg
    assert cfg.train_dataloader.dataset.data_root == MOVED
    assert cfg.val_dataloader.dataset.data_root == "/other"


def test_data_root_refused_where_an_evaluator_file_is_elsewhere(tmp_path):
    config = tmp_path / "c.py"
    config.write_text(
        f"_base_ = ['{REPO}/configs/mask_rcnn/mask-rcnn_r50_fpn_gn-scratch_isbi2012.py']\n"
        "val_evaluator = dict(ann_file='/annotations/val.json')\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError) as err:
        load_config(str(config), [f"data_root={MOVED}"])
    assert str(err.value) == (
        f"data_root={MOVED} for {config}: val_evaluator.ann_file ('/annotations/val.json') is not under the "
        f"config's data_root ('{REPO}/configs/mask_rcnn/../../../shared/data/isbi2012/'); set it too: "
        f"--cfg-options val_evaluator.ann_file=PATH"
    )


def test_data_root_on_configs_with_datasets_registered_by_name():
    lazy = str(REPO / "configs/detectron2/mask_rcnn_R_50_FPN_isbi2012.py")
    assert detect_config_kind(lazy) == D2_LAZY
    with pytest.raises(UserError) as err:
        load_config(lazy, [f"data_root={MOVED}"])
    assert str(err.value) == (
        f"data_root={MOVED} for {lazy}: this config's dataloaders read datasets registered by name "
        f"(isbi2012_cells_train, isbi2012_cells_val), which take no root; set SEGCLASSICS_ISBI2012=DIR in the "
        f"environment instead"
    )
    yaml = str(REPO / "configs/detectron2/unet_synthetic.yaml")
    with pytest.raises(UserError) as err:
        load_config(yaml, [f"data_root={MOVED}"])
    assert str(err.value) == (
        f"data_root={MOVED} for {yaml}: this yaml config's DATASETS.TRAIN/TEST name datasets registered by name "
        f"(synthetic_shapes_sem_seg_train, synthetic_shapes_sem_seg_val), which take no root; set "
        f"SEGCLASSICS_SYNTHETIC_ROOT=DIR in the environment instead"
    )


def test_data_root_names_each_variable_and_what_has_none(tmp_path):
    # a yaml config naming datasets of two variables and one a user registered without any
    from detectron2.data import DatasetCatalog

    DatasetCatalog.register("users_own_dataset", list)
    config = tmp_path / "c.yaml"
    config.write_text(
        f'_BASE_: "{REPO}/configs/detectron2/unet_synthetic.yaml"\n'
        'DATASETS: {TRAIN: ["camvid_sem_seg_train", "voc_2012_sem_seg_aug"], TEST: ["users_own_dataset"]}\n'
    )
    try:
        with pytest.raises(UserError) as err:
            load_config(str(config), [f"data_root={MOVED}"])
    finally:
        DatasetCatalog.remove("users_own_dataset")
    assert str(err.value) == (
        f"data_root={MOVED} for {config}: this yaml config's DATASETS.TRAIN/TEST name datasets registered by name "
        f"(camvid_sem_seg_train, voc_2012_sem_seg_aug, users_own_dataset), which take no root; set "
        f"SEGCLASSICS_CAMVID=DIR and SEGCLASSICS_VOC2012=DIR in the environment instead and register "
        f"users_own_dataset at your copy with detectron2's DatasetCatalog"
    )


def test_the_missing_data_error_suggests_data_root_and_following_it_works(tmp_path):
    from segclassics.datasets.ade20k_fixture import make_ade20k_fixture
    from segclassics.datasets.paths import DatasetNotFoundError
    from segclassics.engine.data_check import check_mmengine_data

    config = str(REPO / "configs/setr_ade20k.py")
    missing = tmp_path / "nowhere"
    cfg = load_config(config, [f"data_root={missing}"]).cfg
    with pytest.raises(DatasetNotFoundError) as err:
        check_mmengine_data(cfg, ["train_dataloader", "val_dataloader"])
    message = str(err.value)
    assert message.startswith(
        f"ADE20KDataset (train_dataloader) expects '{missing}/images/training', which does "
        f"not exist. Download ADEChallengeData2016.zip"
    )
    assert message.endswith(
        "Or set its location: --cfg-options data_root=PATH (every dataloader) or "
        "--cfg-options train_dataloader.dataset.data_root=PATH (this one)"
    )
    root = make_ade20k_fixture(str(tmp_path / "ade"), num_train=1, num_val=1, size=(32, 32))
    check_mmengine_data(load_config(config, [f"data_root={root}"]).cfg, ["train_dataloader", "val_dataloader"])
