"""engine/config_loader.py: one loader for every config kind; overrides with unknown keys refused;
bad config files as one clear error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helpers import REPO, error_message
from segclassics.engine.config_kind import D2_LAZY, D2_YAML, MMENGINE
from segclassics.engine.config_loader import build_model, load_config, resolve_config_path
from segclassics.errors import UserError

MM = str(REPO / "configs/unet/unet_synthetic.py")
LAZY = str(REPO / "configs/detectron2/unet_synthetic.py")
YAML = str(REPO / "configs/detectron2/unet_synthetic.yaml")


def test_each_kind_loads_and_builds_the_same_network():
    """The three UNet demo configs describe one network: same parameter count from all three."""
    counts = {}
    for path, kind, framework in (
        (MM, MMENGINE, "mmseg"),
        (LAZY, D2_LAZY, "detectron2"),
        (YAML, D2_YAML, "detectron2"),
    ):
        loaded = load_config(path)
        assert (loaded.kind, loaded.framework, loaded.file) == (kind, framework, path)
        counts[kind] = sum(p.numel() for p in build_model(loaded).parameters())
    assert counts[MMENGINE] == counts[D2_LAZY] == counts[D2_YAML]


def test_packaged_reference_resolves_to_the_config():
    packaged = Path(resolve_config_path("segclassics::unet/unet_synthetic.py"))
    assert packaged.read_text() == Path(MM).read_text()
    with pytest.raises(UserError, match=r"'segclassics::unet/nope.py': no such packaged config"):
        resolve_config_path("segclassics::unet/nope.py")


def test_known_overrides_apply_in_each_framework():
    mm = load_config(
        MM,
        [
            "train_cfg.max_iters=2",
            "model.backbone.depth=3",
            "model.decode_head.depth=3",
            "model.decode_head.in_channels=[16,32,64]",
            # not in the config, but a constructor argument of the class the dict builds
            "model.decode_head.align_corners=True",
        ],
    ).cfg
    assert (mm.train_cfg.max_iters, mm.model.backbone.depth, mm.model.decode_head.align_corners) == (2, 3, True)
    lazy = load_config(LAZY, ["train.max_iter=2", "model.sem_seg_head.loss_weight=0.5"]).cfg
    assert (lazy.train.max_iter, lazy.model.sem_seg_head.loss_weight) == (2, 0.5)
    yaml_cfg = load_config(YAML, ["SOLVER.MAX_ITER=2"]).cfg
    assert yaml_cfg.SOLVER.MAX_ITER == 2


@pytest.mark.parametrize(
    "config,override,message",
    [
        (
            MM,
            "train_cfg.max_iter=2",
            f"unknown config key 'train_cfg.max_iter' for {MM}: 'train_cfg' has no 'max_iter'; did you mean "
            f"'train_cfg.max_iters', 'train_cfg.val_interval'?",
        ),
        (
            MM,
            "model.backbone.dpeth=3",
            f"unknown config key 'model.backbone.dpeth' for {MM}: 'model.backbone' has no 'dpeth'; did you mean "
            f"'model.backbone.depth'?",
        ),
        (
            LAZY,
            "train_cfg.max_iters=2",
            f"unknown config key 'train_cfg.max_iters' for {LAZY}: the top level has no 'train_cfg'; did you mean "
            f"'train'? (mmengine-style keys such as train_cfg.max_iters do not exist in detectron2 configs; the "
            f"schedule is train.max_iter)",
        ),
        (
            LAZY,
            "model.sem_seg_head.num_clases=3",
            f"unknown config key 'model.sem_seg_head.num_clases' for {LAZY}: 'model.sem_seg_head' has no 'num_clases'; "
            f"did you mean 'model.sem_seg_head.num_classes'?",
        ),
    ],
)
def test_unknown_override_keys_are_refused(config, override, message):
    with pytest.raises(UserError) as info:
        load_config(config, [override])
    assert str(info.value) == message


def test_unknown_yaml_override_is_refused():
    with pytest.raises(UserError) as info:
        load_config(YAML, ["SOLVER.MAX_ITERS=2"])
    assert str(info.value) == (
        f"override for {YAML}: Non-existent key: SOLVER.MAX_ITERS "
        "(detectron2 yaml keys are those of detectron2.config.get_cfg() plus MODEL.SEGCLASSICS.*)"
    )


def test_override_without_equals_sign():
    with pytest.raises(UserError, match=r"^override 'train_cfg.max_iters' is not KEY=VALUE$"):
        load_config(MM, ["train_cfg.max_iters"])


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(textwrap.dedent(content))
    return str(path)


def test_broken_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "broken.yaml", "MODEL:\n  META_ARCHITECTURE: [unclosed\nSOLVER:\n  BASE_LR: 0.1\n")
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:3: not valid YAML: ")


def test_binary_file_as_config(tmp_path):
    path = write(tmp_path, "model.py", b"PK\x03\x04\x00\x00binary\xff\xfe")
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path!r} is not a text file; a config is a .py (mmengine or detectron2 LazyConfig) or .yaml file"
    )


@pytest.mark.slow
def test_misspelt_keyword_in_a_config_file(run_tool, tmp_path, synthetic_root):
    cfg = write(
        tmp_path,
        "typo.py",
        f"""
        _base_ = ['{REPO}/configs/unet/unet_synthetic.py']
        model = dict(decode_head=dict(num_clases=6))
        train_dataloader = dict(dataset=dict(data_root='{synthetic_root}'))
        val_dataloader = dict(dataset=dict(data_root='{synthetic_root}'))
        """,
    )
    line = error_message(run_tool("train.py", cfg, "--work-dir", tmp_path / "w"))
    assert line == (
        f"{cfg}: BaseDecodeHead.__init__() got an unexpected keyword argument 'num_clases'; "
        f"check the spelling of that option in the config"
    )


@pytest.mark.slow
def test_resume_followed_by_an_override(run_tool, tmp_path, synthetic_root):
    """``--resume KEY=VALUE`` resumes from the work dir and applies the override (argparse would
    otherwise take the override as the checkpoint path)."""
    work = tmp_path / "w"
    opts = [
        f"dataloader.train.dataset.root={synthetic_root}",
        "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0",
        "dataloader.train.total_batch_size=2",
        "train.eval_period=0",
        "train.log_period=1",
        "train.checkpointer.period=1",
    ]
    first = run_tool("train.py", LAZY, "--work-dir", work, "train.max_iter=1", *opts)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_tool("train.py", LAZY, "--work-dir", work, "--resume", "train.max_iter=2", *opts)
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert "Starting training from iteration 1" in log and "iter: 1" in log


def test_an_element_of_a_tuple_or_a_plain_list_is_overridden_in_place():
    """mmengine merges list indices only into dicts held by a list: ``size.0=32`` (a tuple) and
    ``out_indices.0=1`` (ints) were tracebacks; now the element is replaced and the container keeps
    its kind and its other elements."""
    cfg = load_config(
        "configs/setr/setr_pup_vit-tiny_synthetic.py",
        ["model.data_preprocessor.size.0=96", "model.data_preprocessor.size.1=80", "model.backbone.out_indices.0=1"],
    ).cfg
    assert cfg.model.data_preprocessor.size == (96, 80)
    assert cfg.model.backbone.out_indices == (1, 1, 2, 3)
    cfg = load_config("configs/unet/unet_synthetic.py", ["custom_imports.imports.0=segclassics.mmseg"]).cfg
    assert cfg.custom_imports.imports == ["segclassics.mmseg"]
