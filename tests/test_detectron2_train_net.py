"""``python -m segclassics.detectron2.train_net``: detectron2's train_net.py for yaml configs naming our
parts, trained a couple of iterations on the synthetic shapes, then evaluated with --eval-only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("detectron2")

TINY_UNET = """
MODEL:
  META_ARCHITECTURE: "SemanticSegmentor"
  DEVICE: "cpu"
  BACKBONE: {NAME: "build_paper_unet_backbone"}
  SEM_SEG_HEAD: {NAME: "PaperUNetSemSegHead", NUM_CLASSES: 6, IGNORE_VALUE: 255}
  SEGCLASSICS:
    UNET: {BASE_CHANNELS: 4, DEPTH: 2, PADDING: "same", NORM: "BN"}
  PIXEL_MEAN: [123.675, 116.28, 103.53]
  PIXEL_STD: [58.395, 57.12, 57.375]
DATASETS:
  TRAIN: ("synthetic_shapes_sem_seg_train",)
  TEST: ("synthetic_shapes_sem_seg_val",)
INPUT:
  FORMAT: "RGB"
  MIN_SIZE_TRAIN: (64,)
  MAX_SIZE_TRAIN: 64
  MIN_SIZE_TEST: 64
  MAX_SIZE_TEST: 64
DATALOADER: {NUM_WORKERS: 0}
SOLVER: {IMS_PER_BATCH: 2, BASE_LR: 0.01, MAX_ITER: 2, CHECKPOINT_PERIOD: 100}
TEST: {EVAL_PERIOD: 0}
"""


def _train_net(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "segclassics.detectron2.train_net", *map(str, args)],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )


def test_trains_then_evaluates_a_yaml_config(synthetic_root, tmp_path):
    config = tmp_path / "tiny_unet.yaml"
    config.write_text(TINY_UNET)
    out = tmp_path / "out"
    env = dict(os.environ, SEGCLASSICS_SYNTHETIC_ROOT=str(synthetic_root), OMP_NUM_THREADS="1")
    trained = _train_net("--config-file", config, "OUTPUT_DIR", out, env=env)
    log = trained.stdout + trained.stderr
    assert trained.returncode == 0, log[-4000:]
    assert (out / "model_final.pth").is_file()
    assert "BASE_CHANNELS: 4" in (out / "config.yaml").read_text()  # default_setup saved our keys
    assert "Starting training from iteration 0" in log
    # the final evaluation of DefaultTrainer (TEST.EVAL_PERIOD 0: after training) ran SemSegEvaluator
    assert "copypaste: Task: sem_seg" in log

    # from the config.yaml the run saved (it re-runs: our keys and dataset names are known)
    evaluated = _train_net(
        "--config-file",
        out / "config.yaml",
        "--eval-only",
        "MODEL.WEIGHTS",
        out / "model_final.pth",
        "OUTPUT_DIR",
        tmp_path / "eval",
        env=env,
    )
    log = evaluated.stdout + evaluated.stderr
    assert evaluated.returncode == 0, log[-4000:]
    assert "copypaste: Task: sem_seg" in log and "copypaste: mIoU,fwIoU,mACC,pACC" in log
    assert "Starting training" not in log

    bad = _train_net("--config-file", config, "MODEL.SEGCLASSICS.UNET.BASE_CHANNEL", "8", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        f"error: {config} (command-line override): Non-existent key: MODEL.SEGCLASSICS.UNET.BASE_CHANNEL "
        f"(detectron2 yaml keys "
        f"are those of detectron2.config.get_cfg() plus MODEL.SEGCLASSICS.*)"
    )


@pytest.mark.parametrize("suffix", [".pkl", ".pth"])
@pytest.mark.parametrize("mode", [[], ["--eval-only"]], ids=["train", "eval-only"])
def test_code_running_weights_are_refused(synthetic_root, tmp_path, suffix, mode):
    # detectron2's own DetectionCheckpointer unpickles .pkl files fully; ours refuses what runs code
    from helpers import malicious_checkpoint

    config = tmp_path / "tiny_unet.yaml"
    config.write_text(TINY_UNET)
    marker = tmp_path / "ran"
    evil = malicious_checkpoint(tmp_path / f"evil{suffix}", marker)
    env = dict(os.environ, SEGCLASSICS_SYNTHETIC_ROOT=str(synthetic_root), OMP_NUM_THREADS="1")
    proc = _train_net("--config-file", config, *mode, "MODEL.WEIGHTS", evil, "OUTPUT_DIR", tmp_path / "o", env=env)
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-3000:]
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: {evil}: refused to load: the file asks to run posix.system while unpickling")
    )
    assert not marker.exists()
