"""``python -m segclassics.detectron2.train_net``: detectron2's train_net.py for yaml configs naming our
parts, trained a couple of iterations on the synthetic shapes, then evaluated with --eval-only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


@pytest.fixture(autouse=True)
def _fresh_detectron2_loggers():
    """train_net called in this process (``cli``, ``setup``) runs detectron2's ``default_setup``, whose
    cached ``setup_logger`` binds stream handlers to the ``sys.stdout`` of that moment: pytest's capture,
    closed after the test. Each test here gets the loggers as they were, so a later warning is not
    written into a closed capture (logging's "--- Logging error ---" traceback)."""
    import logging

    from detectron2.utils.logger import setup_logger

    names = ("detectron2", "fvcore", "segclassics")
    before = {name: list(logging.getLogger(name).handlers) for name in names}
    yield
    for name in names:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if h not in before[name]]:
            logger.removeHandler(handler)
    setup_logger.cache_clear()


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
        f"error: override for {config}: Non-existent key: MODEL.SEGCLASSICS.UNET.BASE_CHANNEL "
        f"(detectron2 yaml keys "
        f"are those of detectron2.config.get_cfg() plus MODEL.SEGCLASSICS.*)"
    )


@pytest.mark.parametrize("suffix", [".pkl", ".pth"])
@pytest.mark.parametrize("mode", [[], ["--eval-only"]], ids=["train", "eval-only"])
def test_code_running_weights_are_refused(synthetic_root, tmp_path, suffix, mode):
    # detectron2's own DetectionCheckpointer unpickles .pkl files fully; ours refuses what runs code
    from helpers import malicious_checkpoint, refusal

    config = tmp_path / "tiny_unet.yaml"
    config.write_text(TINY_UNET)
    marker = tmp_path / "ran"
    evil = malicious_checkpoint(tmp_path / f"evil{suffix}", marker)
    env = dict(os.environ, SEGCLASSICS_SYNTHETIC_ROOT=str(synthetic_root), OMP_NUM_THREADS="1")
    proc = _train_net("--config-file", config, *mode, "MODEL.WEIGHTS", evil, "OUTPUT_DIR", tmp_path / "o", env=env)
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-3000:]
    # the hint names this tool's --trust-checkpoint
    assert proc.stderr.strip().splitlines()[-1] == f"error: {refusal(evil)}"
    assert not marker.exists()


def test_trust_checkpoint_reads_a_legacy_file(synthetic_root, tmp_path):
    # a legacy checkpoint: the tiny UNet's weights beside an object that needs a full unpickle
    import argparse

    import torch
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    import segclassics.detectron2  # noqa: F401
    from segclassics.detectron2.config import add_segclassics_config

    config = tmp_path / "tiny_unet.yaml"
    config.write_text(TINY_UNET)
    cfg = add_segclassics_config(get_cfg())
    cfg.merge_from_file(str(config))
    legacy = tmp_path / "legacy.pth"
    torch.save({"model": build_model(cfg).state_dict(), "args": argparse.Namespace(lr=0.01)}, legacy)
    env = dict(os.environ, SEGCLASSICS_SYNTHETIC_ROOT=str(synthetic_root), OMP_NUM_THREADS="1")
    run = ["--config-file", config, "--eval-only", "MODEL.WEIGHTS", legacy, "OUTPUT_DIR", tmp_path / "o"]

    refused = _train_net(*run, env=env)
    assert refused.returncode == 2, (refused.stdout + refused.stderr)[-3000:]
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: {legacy}: refused to load: the file asks to run argparse.Namespace while unpickling, which a "
        f"checkpoint of weights never needs; if you trust this file and its origin, pass --trust-checkpoint "
        f"(or trusted=True) to unpickle it fully, then save a safe copy with segclassics-publish-model"
    )

    trusted = _train_net(*run[:3], "--trust-checkpoint", *run[3:], env=env)
    log = trusted.stdout + trusted.stderr
    assert trusted.returncode == 0, log[-4000:]
    assert "copypaste: Task: sem_seg" in log
    assert "not found in the checkpoint" not in log  # every weight came from the file


_REFUSED_VALUES = st.one_of(
    st.tuples(st.just("MODEL.SEGCLASSICS.UNET.DEPTH"), st.integers(-3, 0).map(str)),
    st.tuples(st.just("MODEL.SEGCLASSICS.UNET.BASE_CHANNELS"), st.integers(-3, 0).map(str)),
    st.tuples(
        st.just("MODEL.SEGCLASSICS.UNET.PADDING"),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
            lambda s: s not in ("valid", "same")
        ),
    ),
)


@pytest.mark.property
@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key_value=_REFUSED_VALUES)
def test_property_a_value_the_yaml_part_refuses_is_one_line(tmp_path, capsys, key_value):
    """A yaml value of the right type that one of our parts refuses (generated: depths and widths
    below 1, unknown paddings) stops train_net with one line naming the file, the part and the value,
    exit status 2, as every segclassics tool reports it; no traceback."""
    key, value = key_value
    config = tmp_path / "tiny_unet.yaml"
    config.write_text(TINY_UNET)
    from segclassics.detectron2.train_net import cli

    capsys.readouterr()
    status = cli(["--config-file", str(config), key, value, "OUTPUT_DIR", str(tmp_path / "out")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert status == 2 and "Traceback" not in err, err[-3000:]
    assert len(lines) == 1, err[-3000:]
    assert lines[0].startswith(f"error: {config}: PaperUNetBackbone: UNet ") and lines[0].endswith(
        "; check that option in the config"
    )
    assert repr(int(value) if key != "MODEL.SEGCLASSICS.UNET.PADDING" else value) in lines[0]


def test_a_file_that_is_not_yaml_is_one_line(tmp_path, capsys):
    config = tmp_path / "broken.yaml"
    config.write_text("MODEL:\n  DEVICE: [cpu\nSOLVER: {}\n")
    from segclassics.detectron2.train_net import cli

    status = cli(["--config-file", str(config), "OUTPUT_DIR", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error: ")] == [
        f"error: {config}:3: not valid YAML: did not find expected ',' or ']'"
    ]


@pytest.mark.parametrize(
    "opts,message",
    [
        (
            ["MODEL.PIXEL_MEAN", "[0.5]", "MODEL.PIXEL_STD", "[1.0]"],
            "{config}: MODEL.PIXEL_MEAN has 1 value (the backbone's input channels) but INPUT.FORMAT 'RGB' reads "
            "3-channel images; give 3 values in MODEL.PIXEL_MEAN and MODEL.PIXEL_STD, or set INPUT.FORMAT=L to read "
            "one-channel images",
        ),
        (
            ["MODEL.SEM_SEG_HEAD.NUM_CLASSES", "3"],
            "{config}: MODEL.SEM_SEG_HEAD.NUM_CLASSES is 3 but the training data (synthetic_shapes_sem_seg_train) "
            "has 6 classes",
        ),
    ],
    ids=["input channels", "class count"],
)
def test_the_run_checks_of_tools_train_py_apply(tmp_path, capsys, opts, message):
    """The checks tools/train.py makes before a run (test_safety_validator.py::
    test_config_objects_are_checked_before_training, same lines) stop train_net before it builds anything."""
    config = tmp_path / "tiny_unet.yaml"
    config.write_text(TINY_UNET)
    from segclassics.detectron2.train_net import cli

    status = cli(["--config-file", str(config), *opts, "OUTPUT_DIR", str(tmp_path / "out")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert status == 2 and "Traceback" not in err, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: " + message.format(config=config)), err[-3000:]
    assert not (tmp_path / "out" / "model_final.pth").exists()


def test_an_evaluation_checks_the_input_channels_only(tmp_path, capsys):
    """--eval-only reads no training data: a head's class count is not held against it, the input
    channels are (the test images reach the model)."""
    config = tmp_path / "tiny_unet.yaml"
    config.write_text(TINY_UNET)
    from segclassics.datasets.sample_checks import DataError
    from segclassics.detectron2.train_net import setup

    args = _parsed(config, tmp_path, "--eval-only", "MODEL.SEM_SEG_HEAD.NUM_CLASSES", "3")
    assert setup(args).MODEL.SEM_SEG_HEAD.NUM_CLASSES == 3
    args = _parsed(config, tmp_path, "--eval-only", "MODEL.PIXEL_MEAN", "[0.5]", "MODEL.PIXEL_STD", "[1]")
    with pytest.raises(DataError, match=r"MODEL\.PIXEL_MEAN has 1 value"):
        setup(args)


def _parsed(config, tmp_path, *args):
    """train_net's arguments for ``config`` with ``args`` (flags, then KEY VALUE pairs), writing under ``tmp_path``."""
    from segclassics.detectron2.train_net import argument_parser

    return argument_parser().parse_args(["--config-file", str(config), *args, "OUTPUT_DIR", str(tmp_path / "out")])
