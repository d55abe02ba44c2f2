"""tools/analysis/plot_run.py: reads mmengine's and detectron2's scalar logs; one error line for bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from helpers import REPO

spec = importlib.util.spec_from_file_location("plot_run", REPO / "tools" / "analysis" / "plot_run.py")
plot_run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot_run)


def write_lines(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_mmengine_and_detectron2_logs_give_the_same_series(tmp_path):
    mm = write_lines(
        tmp_path / "mm" / "20260101_000000" / "vis_data" / "scalars.json",
        [
            {"lr": 0.1, "loss": 2.0, "step": 10},
            {"lr": 0.1, "loss": 1.5, "step": 20},
            {"mIoU": 30.0, "aAcc": 80.0, "step": 20},
        ],
    )
    d2 = write_lines(
        tmp_path / "d2" / "metrics.json",
        [{"iteration": 9, "total_loss": 2.0}, {"iteration": 19, "total_loss": 1.5, "sem_seg/mIoU": 30.0}],
    )
    (tmp_path / "mm" / "metrics.json").write_text('{"mIoU": 30.0}')  # what tools/test.py --metrics-json writes
    write_lines(tmp_path / "mm" / "20260101_000100" / "vis_data" / "scalars.json", [{"mIoU": 30.0, "step": 20}])
    assert plot_run.find_log(str(tmp_path / "mm")) == str(mm)
    assert plot_run.find_log(str(tmp_path / "d2")) == str(d2)
    mm_rows, d2_rows = plot_run.read_scalars(str(mm)), plot_run.read_scalars(str(d2))
    assert plot_run.series(mm_rows, plot_run.pick_loss_key(mm_rows, None)) == ([10, 20], [2.0, 1.5])
    assert plot_run.series(d2_rows, plot_run.pick_loss_key(d2_rows, None)) == ([10, 20], [2.0, 1.5])
    assert plot_run.series(mm_rows, "mIoU") == ([20], [30.0])
    assert plot_run.series(d2_rows, "sem_seg/mIoU") == ([20], [30.0])


def test_a_resumed_run_is_one_curve(tmp_path):
    """mmengine writes one scalars.json per session; a resumed session repeats the iterations after
    its checkpoint. The curve is every session's, the later session kept where they overlap; a
    test run's log in the same work dir and another run's logs in a sub-folder are not part of it."""
    import os

    first = write_lines(
        tmp_path / "w" / "20260101_000000" / "vis_data" / "scalars.json",
        [{"loss": 3.0, "step": 10}, {"loss": 2.0, "step": 20}, {"Dice": 50.0, "step": 20}, {"loss": 1.9, "step": 30}],
    )
    second = write_lines(
        tmp_path / "w" / "20260102_000000" / "vis_data" / "scalars.json",
        [{"loss": 1.8, "step": 30}, {"loss": 1.0, "step": 40}, {"Dice": 70.0, "step": 40}],
    )
    write_lines(tmp_path / "w" / "20260103_000000" / "vis_data" / "scalars.json", [{"Dice": 70.0, "step": 40}])
    other = write_lines(
        tmp_path / "w" / "old" / "20250101_000000" / "vis_data" / "scalars.json", [{"loss": 9.0, "step": 10}]
    )
    for age, log in enumerate((other, first, second)):
        os.utime(log, (1000 + age, 1000 + age))
    logs = plot_run.find_logs(str(tmp_path / "w"))
    assert logs == [str(first), str(second)]
    rows = plot_run.read_run(logs)
    assert plot_run.series(rows, "loss") == ([10, 20, 30, 40], [3.0, 2.0, 1.8, 1.0])
    assert plot_run.series(rows, "Dice") == ([20, 40], [50.0, 70.0])


def test_metrics_logged_at_epoch_zero_belong_to_the_iteration_before(tmp_path):
    """mmdet's default LoggerHook logs validation metrics at the epoch (0 in iteration-based runs)."""
    log = write_lines(
        tmp_path / "scalars.json",
        [
            {"loss": 2.0, "step": 12},
            {"coco/segm_mAP_50": 0.1, "step": 0},
            {"loss": 1.0, "step": 24},
            {"coco/segm_mAP_50": 0.3, "step": 0},
        ],
    )
    assert plot_run.series(plot_run.read_scalars(str(log)), "coco/segm_mAP_50") == ([12, 24], [0.1, 0.3])


def test_writes_small_labelled_pngs(tmp_path):
    from PIL import Image

    log = write_lines(
        tmp_path / "run" / "vis_data" / "scalars.json",
        [{"loss": 3.0 - i / 10, "step": i} for i in range(1, 21)] + [{"mIoU": 42.0, "step": 20}],
    )
    overlays = tmp_path / "run" / "overlays"
    overlays.mkdir()
    for i in range(3):
        Image.new("RGB", (256, 128), (40 * i, 80, 120)).save(overlays / f"{i}.png")
    out = tmp_path / "fig"
    code = plot_run.main(
        [
            str(log),
            "--metric",
            "mIoU",
            "--title",
            "cfg.py, synthetic",
            "--machine",
            "test box",
            "--out",
            str(out / "curve.png"),
            "--overlays",
            str(overlays),
            "--overlays-out",
            str(out / "overlays.png"),
        ]
    )
    assert code == 0
    for name in ("curve.png", "overlays.png"):
        img = Image.open(out / name)
        assert img.mode == "P"  # palette PNG: small
        assert (out / name).stat().st_size < 100_000


def test_missing_metric_is_one_error_line(tmp_path, capsys):
    log = write_lines(tmp_path / "scalars.json", [{"loss": 1.0, "step": 1}])
    code = plot_run.main(
        [str(log), "--metric", "Dice", "--title", "t", "--out", str(tmp_path / "c.png"), "--machine", "m"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["error: no 'Dice' in the log (it holds: ['loss'])"]


def test_folder_without_logs_is_one_error_line(tmp_path, capsys):
    code = plot_run.main(
        [str(tmp_path), "--metric", "mIoU", "--title", "t", "--out", str(tmp_path / "c.png"), "--machine", "m"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        f"error: {tmp_path}: no vis_data/scalars.json (mmengine) or metrics.json "
        f"(detectron2) with training losses in it"
    ]
