"""tools/reproduce.py: one command trains, publishes fp16 weights, evaluates them, draws the curve
and writes the model-zoo row; an interrupted run resumes."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import torch

from segclassics.engine import reproduce


def _log(path, stamps, train=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{s} - mmengine - INFO - " + ("Iter(train) [1/4]  loss: 0.5" if train else "Iter(test) [1/1]") for s in stamps
    ]
    path.write_text("\n".join(lines) + "\n")


def test_training_wall_time_is_the_sum_of_the_sessions(tmp_path):
    _log(tmp_path / "20261204_100000" / "20261204_100000.log", ["2026/12/04 10:00:00", "2026/12/04 10:01:00"])
    _log(tmp_path / "20261204_110000" / "20261204_110000.log", ["2026/12/04 23:59:50", "2026/12/05 00:00:20"])
    _log(
        tmp_path / "20261204_120000" / "20261204_120000.log",
        ["2026/12/04 12:00:00", "2026/12/04 12:09:00"],
        train=False,
    )  # a test run in the same folder: not training time
    assert reproduce.training_sessions(str(tmp_path)) == [60.0, 30.0]


def test_table_row_names_config_schedule_time_machine_and_weights():
    row = reproduce.table_row(
        reproduce.RECIPES["isbi"],
        dict(pixel_error=0.06811, pixel_error_fscore=0.05, rand_error=0.2, warping_error=0.001, Dice=95.0, other=1.0),
        "2000 it x batch 1",
        [3000.0, 600.0],
        "2-core X CPU",
        "weights/x-12345678.pth",
    )
    assert row == (
        "| UNet valid, base 16, depth 5, ISBI 2012 val slices 24-29, overlap-tile + flip test | "
        "`configs/unet/unet_valid-b16_isbi2012_572x572_cpu.py` | 2000 it x batch 1, 60 min in 2 sessions "
        "on a 2-core X CPU | pixel_error_fscore 0.05, pixel_error 0.06811, rand_error 0.2, warping_error 0.001, "
        "Dice 95 | paper (base 64, test set, 7 rotations averaged): pixel error (1 - max F-score) 0.0611, "
        "Rand error 0.0382 | "
        "`weights/x-12345678.pth` |"
    )


def test_amp_and_channels_last_reach_the_training_command(monkeypatch):
    """--amp and --channels-last go from the command line through reproduce() into tools/train.py's
    arguments; without them the training command is unchanged."""
    seen = {}
    monkeypatch.setattr(reproduce, "reproduce", lambda *args: seen.update(args=args) or dict(name=args[0]))
    argv = ["isbi", "--amp", "--channels-last", "--threads", "2", "--cfg-options", "train_cfg.max_iters=5"]
    assert reproduce.main(argv) == 0
    name, work, _root, threads, weights_dir, cfg_options, amp, channels_last = seen["args"]
    assert (name, work, threads, weights_dir, cfg_options, amp, channels_last) == (
        "isbi",
        None,
        2,
        None,
        ["train_cfg.max_iters=5"],
        True,
        True,
    )
    seen.clear()
    assert reproduce.main(["isbi"]) == 0
    assert seen["args"][-2:] == (False, False)

    cmd = reproduce.train_command("C.py", "/w", resume=True, amp=True, cfg_options=["a=1"], channels_last=True)
    assert cmd[1:] == [
        "tools/train.py",
        "C.py",
        "--work-dir",
        "/w",
        "--resume",
        "--amp",
        "--channels-last",
        "--cfg-options",
        "a=1",
    ]
    cmd = reproduce.train_command("C.py", "/w", resume=False, amp=False, cfg_options=["a=1"])
    assert cmd[1:] == ["tools/train.py", "C.py", "--work-dir", "/w", "--cfg-options", "a=1"]


def test_amp_on_a_cpu_without_bf16_is_one_error_line_before_any_work(monkeypatch, tmp_path, capsys):
    from segclassics.engine import cpu_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cpu_precision, "cpu_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    work = tmp_path / "work"
    code = reproduce.main(["drive", "--amp", "--work-dir", str(work), "--data-root", str(tmp_path / "absent")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: --amp on this CPU: it has no native bfloat16 support (torch reports CPU capability AVX2; "
        "bf16 needs AVX-512 or AMX), so bf16 autocast would run several times slower than fp32; run without --amp"
    ]
    assert not work.exists()  # refused before the work dir or the data were touched


@pytest.mark.slow
def test_reproduce_isbi_end_to_end_and_resume(run_tool, shared_data, tmp_path):
    root = shared_data("isbi2012").parent
    work = tmp_path / "isbi"
    short = [
        "--cfg-options",
        "train_cfg.max_iters=2",
        "default_hooks.logger.interval=1",
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False",
    ]
    proc = run_tool("reproduce.py", "isbi", "--work-dir", work, "--data-root", root, *short, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"\[reproduce isbi\] 2/2 \(100 %\) loss \S+ ETA", proc.stdout)
    (weights,) = work.glob("unet_valid-b16_isbi2012_572x572_cpu-*.pth")
    assert weights.name.endswith(hashlib.sha256(weights.read_bytes()).hexdigest()[:8] + ".pth")
    state = torch.load(weights, weights_only=True)["state_dict"]
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    metrics = json.loads((work / "metrics.json").read_text())
    assert {"pixel_error", "rand_error", "warping_error"} <= set(metrics)
    assert (work / "curve.png").stat().st_size > 0 and (work / "overlays.png").stat().st_size > 0
    row = (work / "row.md").read_text()
    assert "`configs/unet/unet_valid-b16_isbi2012_572x572_cpu.py`" in row and "2 it x batch 1" in row
    assert f"pixel_error {metrics['pixel_error']:.4g}" in row

    # an interruption after the checkpoint of iteration 2 (no last_weights.pth yet): the next call
    # resumes there and trains on to the new end
    (work / "last_weights.pth").unlink()
    short[1] = "train_cfg.max_iters=3"
    proc = run_tool("reproduce.py", "isbi", "--work-dir", work, "--data-root", root, *short, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "(resuming)" in proc.stdout and "[reproduce isbi] 3/3 (100 %)" in proc.stdout
    assert "[reproduce isbi] 1/3" not in proc.stdout and "[reproduce isbi] 2/3" not in proc.stdout
