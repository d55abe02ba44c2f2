"""The one writer (segclassics.utils.writer): nothing that is not the run's is replaced, a dataset's
image and label folders are never written into, files appear whole or not at all, a full disk is
one line, and a work dir belongs to one run at a time.

Case tables first (cases users met), then the property over generated folders and writes.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from helpers import REPO, data_root_overrides, error_message
from segclassics.utils import writer
from segclassics.utils.writer import (
    DiskFullError,
    WorkDirLockedError,
    WriteError,
    check_writable,
    lock_work_dir,
    open_for_write,
    overwriting,
    save_png,
    take_work_dir,
    write_json,
)


@pytest.fixture(autouse=True)
def fresh_run():
    """Each test is a run of its own (the writer remembers what the process wrote)."""
    writer.forget_created()
    yield
    writer.forget_created()


def png(path: Path, value: int = 1, size=(4, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8)).save(path)
    return path


def isbi_layout(root: Path) -> Path:
    """The ISBI 2012 layout: images/{train,test} and labels/train, one image each."""
    for split in ("train", "test"):
        png(root / "images" / split / "0.png", 100)
    png(root / "labels" / "train" / "0.png", 1)
    return root


# ----------------------------------------------------------------------------- no replacing, no dataset folders


def test_a_file_not_written_by_the_run_is_kept(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("theirs")
    with pytest.raises(WriteError) as info:
        write_json(str(path), {"a": 1})
    assert str(info.value) == f"{path} exists and was not written by this run; it is kept. Choose another place"
    with overwriting(False):  # a tool that offers --overwrite names it
        with pytest.raises(WriteError, match="it is kept. Pass --overwrite to replace it, or choose another place"):
            write_json(str(path), {"a": 1})
    assert path.read_text() == "theirs"
    with overwriting():
        write_json(str(path), {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    write_json(str(path), {"a": 2})  # now the run's own: rewritten without asking
    assert json.loads(path.read_text()) == {"a": 2}


def test_a_dataset_folder_is_never_written_into(tmp_path):
    root = isbi_layout(tmp_path / "isbi")
    label = root / "labels" / "train" / "0.png"
    before = label.read_bytes()
    for path in (label, root / "labels" / "train" / "new.png", root / "images" / "test" / "0_pred.png"):
        with overwriting():
            with pytest.raises(WriteError, match="holds images that segclassics did not write"):
                save_png(str(path), np.zeros((4, 6), np.uint8))
    assert label.read_bytes() == before
    assert sorted(os.listdir(root / "labels" / "train")) == ["0.png"]


def test_an_earlier_runs_predictions_may_be_replaced_with_overwrite(tmp_path):
    out = tmp_path / "preds"
    save_png(str(out / "a.png"), np.zeros((2, 2), np.uint8))
    writer.forget_created()  # a second run
    with pytest.raises(WriteError, match="exists and was not written by this run"):
        save_png(str(out / "a.png"), np.ones((2, 2), np.uint8))
    with overwriting():
        save_png(str(out / "a.png"), np.ones((2, 2), np.uint8))
    assert np.asarray(Image.open(out / "a.png")).max() == 1


def test_show_dir_overlays_go_through_the_writer(tmp_path):
    """``--show-dir``'s visualizer backend (mmseg and mmdet): a folder holding a dataset's images
    is never written into, an earlier run's overlay is kept unless --overwrite."""
    from mmengine.registry import VISBACKENDS

    import segclassics.openmmlab  # noqa: F401

    dataset = tmp_path / "show" / "vis_image"
    dataset.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(dataset / "0001.png")
    backend = VISBACKENDS.build(dict(type="CheckedLocalVisBackend", save_dir=str(tmp_path / "show")))
    with pytest.raises(WriteError, match="holds images that segclassics did not write"):
        backend.add_image("0001.png", np.zeros((4, 4, 3), np.uint8))
    assert sorted(os.listdir(dataset)) == ["0001.png"]
    backend = VISBACKENDS.build(dict(type="CheckedLocalVisBackend", save_dir=str(tmp_path / "overlays")))
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red, stored as RGB (mmengine's own backend converts to BGR for cv2)
    backend.add_image("a.png", rgb, step=3)
    written = tmp_path / "overlays" / "vis_image" / "a.png_3.png"
    assert np.asarray(Image.open(written))[0, 0].tolist() == [200, 0, 0]
    writer.forget_created()  # a second run
    with pytest.raises(WriteError, match="exists and was not written by this run"):
        backend.add_image("a.png", rgb, step=3)
    with overwriting():
        backend.add_image("a.png", rgb * 0, step=3)
    assert np.asarray(Image.open(written)).max() == 0


def test_a_kill_mid_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"w": torch.ones(3)}, path)
    with overwriting():
        with pytest.raises(RuntimeError):
            with open_for_write(str(path)) as f:
                f.write(b"partial")
                raise RuntimeError("killed")
    assert torch.load(path)["w"].tolist() == [1, 1, 1] and os.listdir(tmp_path) == ["model.pth"]


WHERE_CASES = [  # (what is in the way, the message)
    ("folder", "{path} is a folder; give a file name"),
    ("file parent", "{path}: {parent} is a file, not a folder; choose another place"),
]


@pytest.mark.parametrize("case,message", WHERE_CASES, ids=[c[0] for c in WHERE_CASES])
def test_paths_that_cannot_be_files(tmp_path, case, message):
    if case == "folder":
        path = tmp_path / "out.onnx"
        path.mkdir()
        parent = tmp_path
    else:
        parent = tmp_path / "a_file"
        parent.write_text("x")
        path = parent / "out.json"
    with pytest.raises(WriteError) as info:
        check_writable(str(path))
    assert str(info.value) == message.format(path=path, parent=parent)


# ----------------------------------------------------------------------------- a full disk


def test_disk_full_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "iter_8.pth"
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError) as info:
        with open_for_write(str(path)) as f:
            torch.save({"w": torch.ones(10)}, f)
    monkeypatch.setattr(os, "fsync", real_fsync)
    message = str(info.value)
    assert message.startswith("no space left on ") and message.endswith(f": {path} not written"), message
    assert "mounted at" in message and os.listdir(tmp_path) == []


@pytest.fixture
def tiny_disk(tmpfs):
    """A 1 MiB disk (the monkeypatched case above runs where none can be mounted)."""
    return tmpfs("size=1m")


def test_a_real_full_disk(tiny_disk):
    """torch.save on a full disk fails inside torch's zip writer (detectron2 saw only "unexpected
    pos ..."): the writer names the device and the file, and nothing is left under the name."""
    path = tiny_disk / "model_final.pth"
    with pytest.raises(DiskFullError) as info:
        with open_for_write(str(path)) as f:
            torch.save({"w": torch.zeros(500_000)}, f)  # 2 MB > 1 MiB
    assert str(info.value) == f"no space left on tmpfs (mounted at {tiny_disk}): {path} not written"
    assert os.listdir(tiny_disk) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "config,opts,first",
    [
        (
            "configs/unet/unet_synthetic.py",
            [
                "--cfg-options",
                "train_cfg.max_iters=2",
                "default_hooks.checkpoint.interval=1",
                "train_cfg.val_interval=100",
                "train_dataloader.num_workers=0",
                "train_dataloader.persistent_workers=False",
            ],
            "iter_1.pth",
        ),
        (
            "configs/detectron2/unet_synthetic.py",
            [
                "train.max_iter=2",
                "train.checkpointer.period=1",
                "train.eval_period=0",
                "dataloader.train.num_workers=0",
            ],
            "model_0000000.pth",
        ),
    ],
    ids=["mmseg", "detectron2"],
)
def test_training_on_a_full_disk(run_tool, tiny_disk, synthetic_root, config, opts, first):
    """A work dir on a disk too small for one checkpoint: one line naming the device and the file,
    no partial checkpoint (mmseg left one; detectron2 said only "unexpected pos ...")."""
    data = (
        data_root_overrides(synthetic_root, ("train",))
        if "unet/" in config
        else [f"dataloader.train.dataset.root={synthetic_root}"]
    )
    work = tiny_disk / "w"
    proc = run_tool("train.py", REPO / config, "--work-dir", work, *opts, *data)
    assert error_message(proc) == f"no space left on tmpfs (mounted at {tiny_disk}): {work / first} not written"
    assert not list(work.glob("*.pth")) and not list(work.glob(".*.tmp*"))


# ----------------------------------------------------------------------------- the work-dir lock


def test_a_second_run_is_refused_naming_the_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        work = tmp_path / "w"
        work.mkdir()
        (work / ".segclassics.lock").write_text(
            json.dumps({"pid": holder.pid, "host": os.uname().nodename, "started": "2026-01-01 00:00:00"})
        )
        with pytest.raises(WorkDirLockedError) as info:
            lock_work_dir(str(work))
        assert str(info.value) == (
            f"--work-dir {work} is in use by another run (pid {holder.pid} on "
            f"{os.uname().nodename}, started 2026-01-01 00:00:00); wait for it to end or "
            f"choose another work dir"
        )
    finally:
        holder.kill()
        holder.wait()
    lock_work_dir(str(work))  # its process is gone: the lock is stale and taken over
    assert json.loads((work / ".segclassics.lock").read_text())["pid"] == os.getpid()


def test_a_finished_work_dir_is_kept_unless_resumed_or_overwritten(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    torch.save({"w": torch.ones(1)}, work / "iter_8.pth")
    with pytest.raises(WriteError) as info:
        take_work_dir(str(work))
    assert str(info.value) == (
        f"--work-dir {work} holds the checkpoints of an earlier run (iter_8.pth); continue "
        f"it with --resume, choose another --work-dir, or pass --overwrite to replace them"
    )
    assert not (work / ".segclassics.lock").exists()
    take_work_dir(str(work), resume=True)
    with open_for_write(str(work / "iter_8.pth")) as f:  # adopted: the resumed run's own
        torch.save({"w": torch.zeros(1)}, f)
    writer.release_work_dir(str(work))


def test_a_work_dir_that_is_a_file(tmp_path):
    path = tmp_path / "w"
    path.write_text("x")
    with pytest.raises(WriteError, match=f"--work-dir {path} is a file, not a folder"):
        lock_work_dir(str(path))


# ----------------------------------------------------------------------------- through the tools


def _weights(tmp_path) -> Path:
    """Random weights of the synthetic UNet (mmseg)."""
    from helpers import random_weights

    return random_weights(REPO / "configs/unet/unet_synthetic.py", tmp_path / "w.pth")


@pytest.mark.slow
def test_infer_out_into_the_dataset_keeps_the_ground_truth(run_tool, tmp_path):
    root = isbi_layout(tmp_path / "isbi")
    label = root / "labels" / "train" / "0.png"
    before = label.read_bytes()
    weights = _weights(tmp_path)
    for extra in ([], ["--overwrite"]):
        proc = run_tool(
            "infer.py", REPO / "configs/unet/unet_synthetic.py", weights, root / "images", "--out", root, *extra
        )
        assert "holds images that segclassics did not write" in error_message(proc)
    assert label.read_bytes() == before and sorted(os.listdir(root / "labels" / "train")) == ["0.png"]


@pytest.mark.slow
def test_training_twice_into_one_work_dir(run_tool, tmp_path, synthetic_root):
    """The second of two runs into one work dir is refused while the first holds it; a re-run into
    the finished work dir is refused without --resume or --overwrite."""
    work = tmp_path / "w"
    opts = [
        "--cfg-options",
        "train_cfg.max_iters=2",
        "train_cfg.val_interval=100",
        "default_hooks.checkpoint.interval=2",
        *data_root_overrides(synthetic_root, ("train", "val")),
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
    ]
    config = REPO / "configs/unet/unet_synthetic.py"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        work.mkdir()
        (work / ".segclassics.lock").write_text(
            json.dumps({"pid": holder.pid, "host": os.uname().nodename, "started": "now"})
        )
        assert f"in use by another run (pid {holder.pid}" in error_message(
            run_tool("train.py", config, "--work-dir", work, *opts)
        )
    finally:
        holder.kill()
        holder.wait()
    first = run_tool("train.py", config, "--work-dir", work, *opts)
    assert first.returncode == 0, first.stderr[-2000:]
    weights = (work / "last_weights.pth").read_bytes()
    again = run_tool("train.py", config, "--work-dir", work, *opts)
    assert "holds the checkpoints of an earlier run" in error_message(again)
    assert (work / "last_weights.pth").read_bytes() == weights and not (work / ".segclassics.lock").exists()


@pytest.mark.slow
def test_publish_model_into_a_folder(run_tool, tmp_path):
    weights = _weights(tmp_path)
    out = tmp_path / "published"
    out.mkdir()
    proc = run_tool("publish_model.py", weights, f"{out}/")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (name,) = os.listdir(out)
    assert name.startswith("w-") and name.endswith(".pth") and len(name) == len("w-12345678.pth")


# ----------------------------------------------------------------------------- the property

_names = st.sampled_from(["a.png", "b.png", "c.jpg", "d.json", "e.pth", "f.onnx"])
_folders = st.sampled_from(["", "data", "data/labels", "out", "out/labels"])


@pytest.mark.property
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    existing=st.lists(st.tuples(_folders, _names, st.booleans()), max_size=8),
    writes=st.lists(st.tuples(_folders, _names, st.booleans()), min_size=1, max_size=10),
    seed=st.integers(0, 2**16),
)
def test_property_nothing_that_is_not_ours_is_replaced(tmp_path_factory, existing, writes, seed):
    """Whatever was there before (files of a dataset, an earlier run's predictions) and whatever a
    run writes, with or without --overwrite: a file the run did not create is replaced only with
    --overwrite and never in a folder holding a dataset's images; every refusal is one line naming
    the file; no temporary file is left behind."""
    writer.forget_created()
    root = tmp_path_factory.mktemp("w")
    before = {}
    for folder, name, prediction in existing:
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".png") and prediction:  # an earlier run's prediction, as save_png marks it
            info = PngImagePlugin.PngInfo()
            info.add_text(*writer.PREDICTION_MARK)
            Image.fromarray(np.zeros((2, 2), np.uint8)).save(path, pnginfo=info)
        else:
            path.write_bytes(f"theirs {name}".encode())
        before[path] = path.read_bytes()
    writer.forget_created()  # what is there now was written before this run
    foreign_images = {p.parent for p in before if p.suffix in (".png", ".jpg") and b"theirs" in before[p]}
    rng = np.random.default_rng(seed)
    ours = set()  # written by this run: its own to rewrite
    for folder, name, overwrite in writes:
        path = root / folder / name
        data = rng.integers(0, 255, (2, 2), dtype=np.uint8)
        try:
            if name.endswith(".png"):
                save_png(str(path), data, overwrite=overwrite)
            else:
                with open_for_write(str(path), overwrite=overwrite) as f:
                    f.write(data.tobytes())
        except WriteError as exc:
            assert (str(path) in str(exc) or str(path.parent) in str(exc)) and "\n" not in str(exc)
            continue
        if path in before and path not in ours:
            assert overwrite, f"{path} replaced without --overwrite"
        ours.add(path)
        if name.endswith((".png", ".jpg")):
            assert path.parent not in foreign_images, f"an image written into the dataset folder {path.parent}"
    for path, content in before.items():
        replaced = path.read_bytes() != content
        assert not replaced or any(root / f / n == path and o for f, n, o in writes)
    leftovers = [p for p in root.rglob("*") if ".tmp" in p.name]
    assert leftovers == []
