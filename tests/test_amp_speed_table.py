"""tools/analysis/amp_speed_table.py: saved runs merge per model, and the table shows each figure's
low-high range and the speed-up within each round (no measuring here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("amp_speed_table", REPO / "tools" / "analysis" / "amp_speed_table.py")
amp_speed_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(amp_speed_table)


def _measurement(train, infer, gflops_per_s):
    return dict(
        train_images_per_s=train,
        infer_images_per_s=infer,
        train_gflops_per_s=gflops_per_s,
        gflops=12.34,
        train_model_input_shape=[64, 64],
    )


def _report(path, fp32, bf16, cl):
    case = dict(
        family="UNet",
        config="configs/unet/x.py",
        shape=[64, 64],
        batch=4,
        runs=dict(fp32=[_measurement(*fp32)], bf16=[_measurement(*bf16)], **{"bf16-cl": [_measurement(*cl)]}),
    )
    path.write_text(json.dumps(dict(results=[case])))
    return str(path)


def test_two_runs_merge_into_ranges_and_per_round_speed_ups(tmp_path, capsys):
    # round 1: bf16 2x, cl 4x faster; round 2 (a loaded machine, all slower): bf16 1.5x, cl 3x
    a = _report(tmp_path / "a.json", (1.0, 10.0, 30.0), (2.0, 12.0, 60.0), (4.0, 20.0, 120.0))
    b = _report(tmp_path / "b.json", (0.5, 8.0, 15.0), (0.75, 9.0, 22.0), (1.5, 10.0, 45.0))
    merged = amp_speed_table.merged([a, b])
    assert [len(merged["results"][0]["runs"][n]) for n in ("fp32", "bf16", "bf16-cl")] == [2, 2, 2]
    assert amp_speed_table.main(["--table-from", a, b]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    assert row == (
        "| UNet (`x.py`) | 64x64, b4 | 12.3 | 0.50-1.00 / 0.75-2.00 / 1.50-4.00 | 1.50-2.00x / 3.00-4.00x | "
        "8.00-10.00 / 9.00-12.00 / 10.00-20.00 | 15-30 / 22-60 / 45-120 |"
    )


def test_a_failed_model_is_a_row_saying_so(tmp_path):
    case = dict(family="SETR", config="configs/setr/y.py", shape=[64, 64], batch=1, runs={}, error="OOM: no memory")
    table = amp_speed_table.markdown(dict(results=[case]))
    assert table.splitlines()[-1] == "| SETR (`y.py`) | failed: OOM: no memory |"
