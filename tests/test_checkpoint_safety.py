"""Checkpoints are read as plain data: a pickle that would run code is refused by every entry point.

The "malicious" files here, if unpickled, would create a marker file (``touch``); each test asserts
the refusal message and that the marker does not exist.
"""

from __future__ import annotations

import fractions
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import REPO, data_root_overrides, error_message, malicious_checkpoint, refusal
from segclassics.utils.checkpoint import load_checkpoint_file, publish_checkpoint, read_state_dict, save_weights_only
from segclassics.utils.reader import UnsafeCheckpointError


@pytest.mark.parametrize("suffix", [".pth", ".pkl"])
def test_code_running_pickle_is_refused(tmp_path, suffix):
    marker = tmp_path / "ran"
    path = malicious_checkpoint(tmp_path / f"evil{suffix}", marker)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(str(path))
    assert str(info.value) == refusal(path, tool=False)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", os.urandom(64), b"PK\x03\x04 truncated zip"])
def test_bytes_that_are_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(str(path))
    assert str(info.value) == (
        f"{path}: not a readable checkpoint ({len(content)} bytes; expected a file written "
        f"by torch.save, or a detectron2 model-zoo .pkl); it may be truncated or not a "
        f"checkpoint at all"
    )


def test_trusted_opt_in_reads_other_objects(tmp_path):
    """A harmless object outside the allow-list (``fractions.Fraction``): refused by default,
    read with the explicit opt-in."""
    path = tmp_path / "legacy.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}, "meta": {"ratio": fractions.Fraction(1, 3)}}, path)
    with pytest.raises(UnsafeCheckpointError, match="asks to run fractions.Fraction"):
        read_state_dict(str(path))
    assert load_checkpoint_file(str(path), trusted=True)["meta"]["ratio"] == fractions.Fraction(1, 3)
    assert torch.equal(read_state_dict(str(path), trusted=True)["w"], torch.ones(2))


def test_detectron2_model_zoo_pickle_reads_arrays(tmp_path):
    """detectron2 ``.pkl`` files hold numpy arrays in dicts; they are plain data."""
    path = tmp_path / "zoo.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, "__author__": "zoo"}, f)
    sd = read_state_dict(str(path))
    assert torch.equal(sd["w"], torch.arange(6, dtype=torch.float32).reshape(2, 3))


def test_weights_only_file_needs_no_allow_list(tmp_path):
    """``save_weights_only`` output loads with plain ``torch.load`` (weights_only=True, no safe globals)."""
    path = tmp_path / "w.pth"
    save_weights_only(
        str(path),
        {"w": torch.arange(3.0)},
        {"dataset_meta": {"classes": ("a", "b"), "palette": np.array([[1, 2, 3], [4, 5, 6]])}, "iter": np.int64(7)},
    )
    obj = torch.load(path, weights_only=True)
    assert obj["meta"] == {"dataset_meta": {"classes": ["a", "b"], "palette": [[1, 2, 3], [4, 5, 6]]}, "iter": 7}
    assert torch.equal(obj["state_dict"]["w"], torch.arange(3.0))
    with pytest.raises(TypeError, match=r"meta\.bad: Fraction is not plain data"):
        save_weights_only(str(path), {}, {"bad": fractions.Fraction(1, 2)})


def test_publish_keeps_the_frameworks_key(tmp_path):
    """mmengine checkpoints keep ``state_dict``, detectron2's keep ``model`` (where each loader looks)."""
    mm, d2 = tmp_path / "mm.pth", tmp_path / "d2.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "meta": {"iter": 4}, "optimizer": {"state": {}}}, mm)
    torch.save({"model": {"w": torch.ones(1)}, "iteration": 9, "optimizer": {"state": {}}}, d2)
    out_mm = torch.load(publish_checkpoint(str(mm), str(tmp_path / "mm_w.pth")))
    out_d2 = torch.load(publish_checkpoint(str(d2), str(tmp_path / "d2_w.pth")))
    assert set(out_mm) == {"state_dict", "meta"} and out_mm["meta"] == {"iter": 4, "source": "mm.pth"}
    assert set(out_d2) == {"model", "meta"} and out_d2["meta"] == {"iter": 10, "source": "d2.pth"}  # 0..9 run


def test_no_tool_switches_weights_only_off():
    """Nothing we ship sets torch's switch that turns weights-only loading off (an environment
    assignment in Python or shell; mentions in prose are fine)."""
    setting = re.compile(r"environ[^\n]*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD|TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=")
    offenders = [
        str(p)
        for root in ("plugins", "tools", "configs", "scripts", "Makefile", ".ci")
        for p in ([REPO / root] if (REPO / root).is_file() else (REPO / root).rglob("*"))
        if p.is_file() and setting.search(p.read_text(errors="ignore"))
    ]
    assert offenders == []
    assert setting.search('os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")')  # the pattern bites


def test_mmengine_training_checkpoint_loads_weights_only(tmp_path):
    """mmengine's checkpoints (message hub with HistoryBuffer + numpy) load under torch's default
    ``weights_only=True`` once segclassics' OpenMMLab glue is imported, as mmseg's init_model does."""
    from mmengine.logging import MessageHub

    hub = MessageHub.get_instance("test_checkpoint_safety")
    hub.update_scalar("train/loss", 0.5)
    hub.update_info("iter", 3)
    path = tmp_path / "mm.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "message_hub": hub.state_dict(), "meta": {"iter": 3}}, path)
    code = (
        "import torch, segclassics.mmseg; c = torch.load({!r}); "
        "print(type(c['message_hub']['log_scalars']['train/loss']).__name__)"
    ).format(str(path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "HistoryBuffer"
    # without our import the same file is refused by torch itself (nothing of ours weakens it)
    plain = subprocess.run(
        [sys.executable, "-c", f"import torch; torch.load({str(path)!r})"], capture_output=True, text=True, timeout=300
    )
    assert plain.returncode != 0 and "Weights only load failed" in plain.stderr


def test_reading_a_checkpoint_keeps_the_process_wide_allow_list(tmp_path):
    """load_checkpoint_file allow-lists for its own call only what is not allow-listed already, so
    leaving its context does not undo ``allow_mmengine_checkpoints`` (mmengine's loaders need it)."""
    from segclassics.openmmlab.checkpoint_loading import allow_mmengine_checkpoints
    from segclassics.utils.reader import mmengine_globals

    allow_mmengine_checkpoints()
    before = set(torch.serialization.get_safe_globals())
    assert set(mmengine_globals()) <= before
    path = tmp_path / "plain.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    load_checkpoint_file(str(path))
    assert set(torch.serialization.get_safe_globals()) == before


def test_getattr_allowance_is_limited_to_history_buffer_statistics(tmp_path):
    """mmengine pickles getattr(HistoryBuffer, 'min'|'max'|'current'|'mean'); any other getattr is refused."""
    from mmengine.logging.history_buffer import HistoryBuffer

    class GetInit:
        def __reduce__(self):
            return getattr, (HistoryBuffer, "__init__")

    path = tmp_path / "getattr.pth"
    torch.save({"x": GetInit()}, path)
    with pytest.raises(
        UnsafeCheckpointError, match=re.escape("asks to run builtins.getattr(HistoryBuffer, '__init__')")
    ):
        load_checkpoint_file(str(path))


ENTRY_POINTS = [
    # (tool, config, arguments before the checkpoint, arguments after it)
    ("test.py", "configs/unet/unet_synthetic.py", [], []),
    ("test.py", "configs/detectron2/unet_synthetic.py", [], []),
    ("test.py", "configs/detectron2/unet_synthetic.yaml", [], []),
    ("train.py", "configs/unet/unet_synthetic.py", ["--resume"], []),
    ("train.py", "configs/detectron2/unet_synthetic.py", ["--resume"], []),
]


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pth", ".pkl"])
@pytest.mark.parametrize(
    "tool,config,before,after", ENTRY_POINTS, ids=[f"{t}-{c.split('/')[-1]}" for t, c, _, _ in ENTRY_POINTS]
)
def test_entry_points_refuse_code_running_checkpoints(
    run_tool, tmp_path, synthetic_root, tool, config, before, after, suffix
):
    marker = tmp_path / "ran"
    evil = malicious_checkpoint(tmp_path / f"evil{suffix}", marker)
    if config.endswith(".yaml"):
        opts, env = ["DATALOADER.NUM_WORKERS=0"], {"SEGCLASSICS_SYNTHETIC_ROOT": str(synthetic_root)}
    elif "detectron2" in config:
        opts, env = (
            [
                f"dataloader.train.dataset.root={synthetic_root}",
                "dataloader.train.num_workers=0",
                "dataloader.test.num_workers=0",
            ],
            {},
        )
    else:
        opts, env = (
            ["--cfg-options"] + data_root_overrides(synthetic_root),
            {},
        )
    if tool == "test.py":
        args = [REPO / config, evil, "--work-dir", tmp_path / "w", *opts]
    else:
        args = [REPO / config, *before, str(evil), "--work-dir", tmp_path / "w", *opts]
    proc = run_tool(tool, *args, env=env)
    assert error_message(proc) == refusal(evil)
    assert not marker.exists()


def test_detectron2_checkpointer_reads_model_zoo_pickles_safely(tmp_path):
    """Our DetectionCheckpointer loads a model-zoo style .pkl (numpy arrays) into the model and
    refuses one that would run code; detectron2's own would unpickle it."""
    from segclassics.detectron2.checkpointer import SafeDetectionCheckpointer

    model = torch.nn.Linear(3, 2)
    weights = {"weight": np.arange(6, dtype=np.float32).reshape(2, 3), "bias": np.array([1, 2], np.float32)}
    good = tmp_path / "zoo.pkl"
    with open(good, "wb") as f:
        pickle.dump({"model": weights, "__author__": "zoo"}, f)
    SafeDetectionCheckpointer(model).load(str(good))
    assert torch.equal(model.weight.data, torch.from_numpy(weights["weight"]))
    marker = tmp_path / "ran"
    evil = malicious_checkpoint(tmp_path / "evil.pkl", marker)
    with pytest.raises(UnsafeCheckpointError) as info:
        SafeDetectionCheckpointer(model).load(str(evil))
    assert str(info.value) == refusal(evil, tool=False) and not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("config", ["configs/unet/unet_synthetic.py", "configs/detectron2/unet_synthetic.py"])
def test_resume_from_a_checkpoint_of_another_model(run_tool, tmp_path, synthetic_root, config):
    """``--resume FILE`` with another network's weights stops before training, naming the keys
    (mmengine would resume with strict=False and only log the mismatch)."""
    other = tmp_path / "other.pth"  # a training checkpoint (its state names a message hub and an iteration)
    torch.save(
        {"state_dict": {"backbone.not_a_layer.weight": torch.zeros(3)}, "meta": {}, "message_hub": {}, "iteration": 0},
        other,
    )
    if "detectron2" in config:
        opts = [f"dataloader.train.dataset.root={synthetic_root}", "dataloader.train.num_workers=0"]
        model = "SemanticSegmentor"
    else:
        opts = [
            "--cfg-options",
            *data_root_overrides(synthetic_root, ("train", "val")),
        ]
        model = "EncoderDecoder"
    proc = run_tool("train.py", REPO / config, "--resume", other, "--work-dir", tmp_path / "w", *opts)
    message = error_message(proc)
    assert (
        message.startswith(f"{other} does not match {model}: ")
        and "; 1 unexpected (backbone.not_a_layer.weight)" in message
    )
    assert not (tmp_path / "w" / "last_checkpoint").exists()
