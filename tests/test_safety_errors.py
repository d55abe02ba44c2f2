"""Every entry point ends a user error in one ``error:`` line (exit 2) and Ctrl-C in one line
(exit 130) naming the last checkpoint: the cases that printed a traceback (or nothing useful)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import REPO, data_root_overrides, error_message, random_weights
from pickles import RunsCode

UNET = REPO / "configs/unet/unet_synthetic.py"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return random_weights(UNET, tmp_path_factory.mktemp("weights") / "w.pth")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "a.png")
    return folder


@pytest.fixture
def read_only(tmpfs):
    """A read-only file system (root ignores permission bits, not that)."""
    return tmpfs("ro,size=64k")


def _case(name, tool, args, message):
    return pytest.param(tool, args, message, id=name)


ONE_LINE_CASES = [  # (tool, arguments with {tmp}, {weights}, {images}, start of the message)
    _case(
        "infer --out an existing file",
        "infer.py",
        ["{unet}", "{weights}", "{images}", "--out", "{file}"],
        "--out {file} is a file; give a folder for the predictions",
    ),
    _case(
        "export --out a folder",
        "export_onnx.py",
        ["{unet}", "{weights}", "--out", "{tmp}"],
        "--out {tmp} is a folder; give a file name",
    ),
    _case(
        "export size past the limit",
        "export_onnx.py",
        ["{unet}", "{weights}", "--out", "{tmp}/m.onnx", "--shape", "9000", "9000", "--no-verify"],
        "input height 9000 is larger than the exported graph's limit 8192",
    ),
    _case(
        "train --work-dir a file",
        "train.py",
        ["{unet}", "--work-dir", "{file}"],
        "--work-dir {file} is a file, not a folder; choose another work dir",
    ),
    _case(
        "test --metrics-json not the run's",
        "test.py",
        ["{unet}", "{weights}", "--work-dir", "{tmp}/w", "--metrics-json", "{file}"],
        "{file} exists and was not written by this run; it is kept. Pass --overwrite to replace it, or choose "
        "another place than --metrics-json",
    ),
    _case(
        "infer --device meta",
        "infer.py",
        ["{unet}", "{weights}", "{images}", "--out", "{tmp}/o", "--device", "meta"],
        "--device 'meta': not a device infer.py runs on",
    ),
    _case("publish IN as OUT", "publish_model.py", ["{weights}", "{weights}"], "OUT "),
]


@pytest.mark.slow
@pytest.mark.parametrize("tool,args,message", ONE_LINE_CASES)
def test_one_line(run_tool, tmp_path, weights, images, tool, args, message):
    file = tmp_path / "a_file"
    file.write_text("kept")
    values = dict(tmp=tmp_path, file=file, weights=weights, images=images, unet=UNET)
    proc = run_tool(tool, *(a.format(**values) for a in args))
    assert error_message(proc).startswith(message.format(**values))
    assert file.read_text() == "kept"
    if tool == "test.py":
        assert "Iter(test)" not in proc.stdout + proc.stderr, "refused only after the evaluation"


@pytest.mark.slow
def test_infer_out_on_a_read_only_file_system(run_tool, weights, images, read_only):
    proc = run_tool("infer.py", UNET, weights, images, "--out", read_only / "preds")
    assert error_message(proc) == (
        f"cannot write {read_only / 'preds' / 'labels' / 'a.png'}: {read_only} is not "
        f"writable (read-only file system); choose another place"
    )


@pytest.mark.slow
def test_train_work_dir_on_a_read_only_file_system(run_tool, read_only):
    proc = run_tool("train.py", UNET, "--work-dir", read_only / "w")
    assert error_message(proc) == f"cannot create --work-dir {read_only / 'w'}: Read-only file system"


@pytest.mark.slow
def test_metrics_json_with_a_missing_parent(run_tool, tmp_path, synthetic_root, weights):
    out = tmp_path / "new" / "folder" / "metrics.json"
    proc = run_tool(
        "test.py",
        UNET,
        weights,
        "--work-dir",
        tmp_path / "w",
        "--metrics-json",
        out,
        "--cfg-options",
        f"test_dataloader.dataset.data_root={synthetic_root}",
        "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert set(json.loads(out.read_text())) >= {"mIoU", "aAcc"}


@pytest.mark.slow
def test_converters_name_only_options_they_have(run_tool, tmp_path):
    evil = tmp_path / "vgg16.pth"
    torch.save({"features.0.weight": torch.zeros(1), "x": RunsCode(tmp_path / "ran")}, evil)
    proc = run_tool("convert_weights/vgg16_torchvision.py", evil, tmp_path / "out.pth")
    message = error_message(proc)
    assert message.startswith(f"{evil}: refused to load: the file asks to run posix.system")
    assert message.endswith("save a plain-data copy with segclassics-publish-model FILE OUT --trust-checkpoint")
    assert not (tmp_path / "ran").exists()


@pytest.mark.slow
def test_palette_to_index_never_writes_over_its_input(run_tool, tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    image = Image.fromarray(np.full((2, 2), 3, np.uint8), mode="L").convert("P")
    image.save(labels / "a.png")
    before = (labels / "a.png").read_bytes()
    proc = run_tool("dataset_converters/palette_to_index.py", labels, labels)
    assert "holds images that segclassics did not write" in error_message(proc)
    assert (labels / "a.png").read_bytes() == before


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize(
    "config,opts",
    [
        (
            UNET,
            [
                "--cfg-options",
                "train_cfg.max_iters=100000",
                "default_hooks.checkpoint.interval=1",
                "train_cfg.val_interval=100000",
                "train_dataloader.num_workers=0",
                "train_dataloader.persistent_workers=False",
            ],
        ),
        (
            REPO / "configs/detectron2/unet_synthetic.py",
            [
                "train.max_iter=100000",
                "train.checkpointer.period=1",
                "train.eval_period=0",
                "dataloader.train.num_workers=0",
            ],
        ),
    ],
    ids=["mmseg", "detectron2"],
)
def test_ctrl_c_is_one_line_naming_the_last_checkpoint(tmp_path, synthetic_root, config, opts):
    work = tmp_path / "w"
    data = (
        data_root_overrides(synthetic_root, ("train", "val"))
        if config == UNET
        else [f"dataloader.train.dataset.root={synthetic_root}"]
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tools/train.py"), str(config), "--work-dir", str(work), *opts, *data],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        # Ctrl-C as a terminal delivers it: a shell starts background jobs with SIGINT ignored,
        # and a Python started that way never raises KeyboardInterrupt (CI run as `.ci/run &`)
        preexec_fn=_sigint_as_in_a_terminal,
    )
    try:
        deadline = time.monotonic() + 600
        while not any(work.glob("*.pth")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err, err[-3000:]
    assert last.startswith(f"interrupted (Ctrl-C); the last checkpoint written is {work}/"), last
    assert last.endswith(": continue with --resume")
    assert not (work / ".segclassics.lock").exists()
