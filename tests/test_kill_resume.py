"""A training killed with SIGKILL and resumed with ``tools/train.py --resume`` ends where an
uninterrupted one does.

For an mmseg, an mmdet and a detectron2 config: train with a checkpoint every 2 iterations, kill
the process (SIGKILL, no clean-up) once a checkpoint is on disk, resume, and compare the final
checkpoint with that of an uninterrupted run of the same length: the weights, the optimizer state
and the schedule are equal (``torch.equal``, bit for bit), and the resumed run logs no iteration
before the checkpoint's. Deterministic settings: ``randomness.seed=0`` / ``train.seed=0``, no
dataloader workers. The states a kill *during* a checkpoint save leaves behind (a partial newest
file; an empty ``last_checkpoint``) resume from the newest complete checkpoint.

detectron2 restarts its data stream on resume (``TrainingSampler`` keeps no position), so its
runs use one training image without augmentation, where every batch is the same; mmengine skips
the batches already trained, so the mmengine runs use the usual shuffled, flipped data.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers import REPO, data_root_overrides

ITERS, PERIOD = 12, 2

MM_COMMON = [
    "default_hooks.logger.interval=1",
    "randomness.seed=0",
    "train_dataloader.num_workers=0",
    "train_dataloader.persistent_workers=False",
    "val_dataloader.num_workers=0",
    "val_dataloader.persistent_workers=False",
    f"default_hooks.checkpoint.interval={PERIOD}",
    "default_hooks.checkpoint.max_keep_ckpts=100",
    f"train_cfg.max_iters={ITERS}",
    f"train_cfg.val_interval={ITERS * 10}",
]


def _env():
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


def _train(config, work, args, timeout=900):
    cmd = [sys.executable, str(REPO / "tools" / "train.py"), str(config), "--work-dir", str(work), *map(str, args)]
    return subprocess.run(cmd, cwd=REPO, env=_env(), text=True, capture_output=True, timeout=timeout)


def _named(work: Path) -> str | None:
    try:
        name = (work / "last_checkpoint").read_text().strip()
    except OSError:
        return None
    return str(work / name) if name else None  # detectron2 writes the base name, mmengine the path


def _train_and_kill(config, work, args, after: int, timeout=900) -> tuple[str, str]:
    """Start a training, SIGKILL it as soon as ``last_checkpoint`` names a checkpoint of
    iteration >= ``after`` (and before it ends); returns (that checkpoint, the log)."""
    work.mkdir(parents=True, exist_ok=True)
    log_path = work.parent / f"{work.name}.log"
    cmd = [sys.executable, str(REPO / "tools" / "train.py"), str(config), "--work-dir", str(work), *map(str, args)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                named = _named(work)
                if named and _iteration(named) >= after:
                    proc.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.02)
        finally:
            if proc.poll() is None and time.monotonic() >= deadline:
                proc.kill()
            proc.wait()
    text = log_path.read_text()
    assert proc.returncode == -signal.SIGKILL, f"the training ended before the kill:\n{text[-3000:]}"
    return _named(work), text


def _iteration(checkpoint: str) -> int:
    """Iterations done when a checkpoint was written: mmengine iter_N.pth holds N, detectron2
    model_000000K.pth holds K + 1 (it counts from 0)."""
    name = os.path.basename(checkpoint)
    found = re.match(r"iter_(\d+)\.pth$", name)
    if found:
        return int(found[1])
    found = re.match(r"model_(\d+)\.pth$", name)
    return int(found[1]) + 1 if found else -1


def _load(path) -> dict:
    from segclassics.utils.checkpoint import load_checkpoint_file

    return load_checkpoint_file(str(path))


def _assert_same_tensors(a, b, where=""):
    if torch.is_tensor(a):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same_tensors(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _partial_copy(src: str, dst: Path) -> None:
    """What a kill during a save leaves: the first half of a checkpoint, newer than the others."""
    data = Path(src).read_bytes()
    dst.write_bytes(data[: len(data) // 2])


@pytest.fixture(autouse=True)
def _remove_checkpoints(tmp_path):
    """Delete each test's work directories afterwards: the checkpoints of the large networks
    (ViT-L with its optimizer state: 2.5 GB) would otherwise fill the disk."""
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture(scope="module")
def one_image_synthetic(tmp_path_factory):
    from segclassics.datasets.synthetic import ensure_synthetic

    root = tmp_path_factory.mktemp("synthetic_one")
    ensure_synthetic(str(root), num_train=1, num_val=1, size=(64, 64))
    return root


@pytest.mark.slow
def test_mmseg_kill_and_resume(tmp_path, synthetic_root):
    config = REPO / "configs/unet/unet_synthetic.py"
    args = ["--cfg-options", *MM_COMMON] + data_root_overrides(synthetic_root, ("train", "val"))
    whole = _train(config, tmp_path / "whole", args)
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed_at, _ = _train_and_kill(config, tmp_path / "killed", args, after=4)
    k = _iteration(killed_at)
    # the worst a kill during a save leaves: the next checkpoint cut short, last_checkpoint emptied
    _partial_copy(killed_at, tmp_path / "killed" / f"iter_{k + PERIOD}.pth")
    (tmp_path / "killed" / "last_checkpoint").write_text("")
    resumed = _train(config, tmp_path / "killed", ["--resume", *args])
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert f"resumed epoch: 0, iter: {k}" in log
    logged = [int(i) for i in re.findall(rf"Iter\(train\) \[\s*(\d+)/{ITERS}\]", log)]
    assert logged == list(range(k + 1, ITERS + 1))  # from the checkpoint's iteration on, once each
    a, b = _load(tmp_path / "whole" / f"iter_{ITERS}.pth"), _load(tmp_path / "killed" / f"iter_{ITERS}.pth")
    for key in ("state_dict", "optimizer", "param_schedulers"):
        _assert_same_tensors(a[key], b[key], key)


@pytest.mark.slow
def test_mmdet_kill_and_resume(tmp_path):
    """Mask R-CNN samples its proposals at random (torch), and with one training image the
    dataloader is re-created (drawing a torch seed) for every batch: equality needs the random
    states, which the checkpoints carry (RandomStateHook)."""
    from segclassics.datasets.standins import isbi2012

    root = isbi2012(str(tmp_path / "isbi"), size=(96, 96))
    config = REPO / "configs/mask_rcnn/mask-rcnn_r18_fpn_gn-scratch_isbi2012.py"
    args = [
        "--cfg-options",
        *MM_COMMON,
        "train_dataloader.batch_size=1",
        "model.train_cfg.rcnn.sampler.num=32",
        "train_dataloader.dataset.pipeline.2.scale=(128,128)",
        "train_dataloader.dataset.pipeline.3.crop_size=(96,96)",
        f"train_dataloader.dataset.data_root={root}/",
        f"val_dataloader.dataset.data_root={root}/",
        f"val_evaluator.ann_file={root}/instances/val.json",
        f"val_evaluator.image_root={root}/",
    ]
    whole = _train(config, tmp_path / "whole", args)
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed_at, _ = _train_and_kill(config, tmp_path / "killed", args, after=4)
    k = _iteration(killed_at)
    resumed = _train(config, tmp_path / "killed", ["--resume", *args])
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert f"resumed epoch: 0, iter: {k}" in log
    a, b = _load(tmp_path / "whole" / f"iter_{ITERS}.pth"), _load(tmp_path / "killed" / f"iter_{ITERS}.pth")
    for key in ("state_dict", "optimizer", "param_schedulers"):
        _assert_same_tensors(a[key], b[key], key)


@pytest.mark.slow
def test_detectron2_kill_and_resume(tmp_path, one_image_synthetic):
    config = REPO / "configs/detectron2/unet_synthetic.py"
    args = [
        f"train.max_iter={ITERS}",
        f"train.checkpointer.period={PERIOD}",
        "train.checkpointer.max_to_keep=100",
        f"train.eval_period={ITERS * 10}",
        "train.log_period=1",
        "train.seed=0",
        f"dataloader.train.dataset.root={one_image_synthetic}",
        "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0",
        "dataloader.train.total_batch_size=2",
        "dataloader.train.mapper.augmentations=[]",
    ]
    whole = _train(config, tmp_path / "whole", args)
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed_at, _ = _train_and_kill(config, tmp_path / "killed", args, after=4)
    k = _iteration(killed_at)
    _partial_copy(killed_at, tmp_path / "killed" / f"model_{k + PERIOD - 1:07d}.pth")
    resumed = _train(config, tmp_path / "killed", ["--resume", *args])
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert f"Starting training from iteration {k}" in log
    a, b = _load(tmp_path / "whole" / "model_final.pth"), _load(tmp_path / "killed" / "model_final.pth")
    assert a["iteration"] == b["iteration"] == ITERS - 1
    for key in ("model", "trainer"):  # trainer: the optimizer state and the LR scheduler hook's state
        _assert_same_tensors(a[key], b[key], key)
