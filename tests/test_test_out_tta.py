"""tools/test.py --out DIR and --tta on mmseg configs, as mmseg's own tools/test.py offers them.

``--out``: every test evaluator gets ``output_dir`` and ``keep_results`` (mmseg's wiring); our
``SegNetMetric`` and ``BinarySegMetric`` then write the files mmseg's ``IoUMetric`` writes (one
8-bit PNG of class indices per image, named after the image), checked pixel for pixel against
IoUMetric's. ``--tta``: ``tta_pipeline`` + ``tta_model`` (SETR's multi-scale + flip test);
configs without a ``tta_pipeline`` get one error line.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from segclassics.utils.writer import is_prediction_image

SEGNET = "configs/segnet/segnet_basic_synthetic.py"
SETR = "configs/setr/setr_pup_vit-tiny_synthetic.py"
pytestmark = pytest.mark.slow  # subprocesses of tools/test.py (about 10 s each)


def _data_options(root) -> list[str]:
    return [
        f"test_dataloader.dataset.data_root={root}",
        "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
    ]


def _random_checkpoint(config: str, path) -> str:
    """Weights of the config's model drawn at random (seeded), saved as a checkpoint."""
    from segclassics.engine.config_loader import build_model, load_config

    torch.manual_seed(0)
    model = build_model(load_config(config, []), "cpu")
    torch.save({"state_dict": model.state_dict(), "meta": {}}, path)
    return str(path)


def _metrics(proc) -> dict:
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("metrics: "))[9:])


def _error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def segnet_checkpoint(tmp_path_factory):
    return _random_checkpoint(SEGNET, tmp_path_factory.mktemp("ckpt") / "segnet_basic.pth")


@pytest.mark.parametrize("metric", ["SegNetMetric", "BinarySegMetric"])
def test_out_writes_iou_metric_pngs_with_our_metrics(metric, segnet_checkpoint, run_tool, synthetic_root, tmp_path):
    images = sorted((synthetic_root / "img_dir" / "val").glob("*.png"))
    assert len(images) == 4
    runs = {}
    for evaluator in (metric, "IoUMetric"):  # IoUMetric: mmseg's own, the reference files
        out = tmp_path / evaluator
        proc = run_tool(
            "test.py",
            SEGNET,
            segnet_checkpoint,
            "--work-dir",
            tmp_path / "work",
            "--out",
            out,
            "--cfg-options",
            *_data_options(synthetic_root),
            f"test_evaluator.type={evaluator}",
            timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        runs[evaluator] = (out, _metrics(proc))
    out, metrics = runs[metric]
    assert metrics and all(np.isfinite(v) for v in metrics.values())  # the metrics are still computed
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{p.stem}.png" for p in images)
    reference = runs["IoUMetric"][0]
    for image in images:
        ours, theirs = Image.open(out / f"{image.stem}.png"), Image.open(reference / f"{image.stem}.png")
        assert ours.mode == theirs.mode == "L" and ours.size == Image.open(image).size
        assert np.array_equal(np.asarray(ours), np.asarray(theirs))
        assert is_prediction_image(str(out / f"{image.stem}.png"))  # written through segclassics' writer
    labels = np.stack([np.asarray(Image.open(out / f"{p.stem}.png")) for p in images])
    assert labels.max() < 6 and len(np.unique(labels)) > 1  # class indices of the 6 classes, not one constant


def test_format_only_writes_the_pngs_and_no_metrics(segnet_checkpoint, run_tool, synthetic_root, tmp_path):
    out = tmp_path / "out"
    proc = run_tool(
        "test.py",
        SEGNET,
        segnet_checkpoint,
        "--work-dir",
        tmp_path / "work",
        "--out",
        out,
        "--cfg-options",
        *_data_options(synthetic_root),
        "test_evaluator.format_only=True",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _metrics(proc) == {}
    assert len(list(out.glob("*.png"))) == 4


def test_out_refuses_a_dataset_folder(segnet_checkpoint, run_tool, synthetic_root, tmp_path):
    folder = synthetic_root / "img_dir" / "val"
    before = sorted(p.name for p in folder.iterdir())
    proc = run_tool(
        "test.py",
        SEGNET,
        segnet_checkpoint,
        "--work-dir",
        tmp_path / "work",
        "--out",
        folder,
        "--cfg-options",
        *_data_options(synthetic_root),
        timeout=600,
    )
    line = _error_line(proc)
    assert f"{folder} holds images that segclassics did not write" in line and "--out" in line
    assert sorted(p.name for p in folder.iterdir()) == before


def test_tta_runs_setr_multiscale_flip(run_tool, synthetic_root, tmp_path):
    checkpoint = _random_checkpoint(SETR, tmp_path / "setr.pth")
    out = tmp_path / "out"
    proc = run_tool(
        "test.py",
        SETR,
        checkpoint,
        "--work-dir",
        tmp_path / "work",
        "--tta",
        "--out",
        out,
        "--cfg-options",
        *_data_options(synthetic_root),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = _metrics(proc)
    assert set(metrics) >= {"mIoU", "aAcc"} and 0 <= metrics["mIoU"] <= 100
    assert len(list(out.glob("*.png"))) == 4


def test_tta_config_with_12_views():
    """SETR's tta_pipeline: 6 scales (0.5 ... 1.75) x (unflipped, flipped), mmseg's SegTTAModel."""
    from segclassics.engine.config_loader import load_config

    cfg = load_config(SETR, []).cfg
    assert cfg.tta_model == dict(type="SegTTAModel")
    aug = cfg.tta_pipeline[1]
    assert aug.type == "TestTimeAug"
    scales, flips = aug.transforms[0], aug.transforms[1]
    assert [t.scale_factor for t in scales] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert [(t.type, t.prob) for t in flips] == [("RandomFlip", 0.0), ("RandomFlip", 1.0)]


def test_tta_without_tta_pipeline_is_one_error_line(segnet_checkpoint, run_tool, synthetic_root, tmp_path):
    proc = run_tool(
        "test.py",
        SEGNET,
        segnet_checkpoint,
        "--work-dir",
        tmp_path / "work",
        "--tta",
        "--cfg-options",
        *_data_options(synthetic_root),
        timeout=600,
    )
    assert _error_line(proc) == (
        f"error: --tta: {SEGNET} has no tta_pipeline (the test-time augmentations); this config is meant to be "
        f"evaluated without them (run without --tta), or add tta_pipeline and tta_model to it "
        f"(see configs/_base_/tta/)"
    )


def _mmseg_tool(name: str):
    from pathlib import Path

    import mmseg

    tool = Path(mmseg.__file__).parent / ".mim" / "tools" / name
    if not tool.is_file():
        pytest.skip(f"mmseg's {name} is not installed with mmseg ({tool})")
    return tool


@pytest.mark.parametrize("config, option", [(SEGNET, "--out"), (SETR, "--tta")])
def test_mmseg_own_test_tool(config, option, repo_root, synthetic_root, tmp_path):
    """mmseg's installed tools/test.py, run outside the checkout on the source config."""
    import os
    import subprocess
    import sys

    checkpoint = _random_checkpoint(config, tmp_path / "model.pth")
    out = tmp_path / "out"
    args = ["--out", str(out)] + ([option] if option != "--out" else [])
    proc = subprocess.run(
        [
            sys.executable,
            str(_mmseg_tool("test.py")),
            str(repo_root / config),
            checkpoint,
            "--work-dir",
            str(tmp_path / "work"),
            *args,
            "--cfg-options",
            *_data_options(synthetic_root),
        ],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        text=True,
        capture_output=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Iter(test) [4/4]" in proc.stdout + proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{i:04d}.png" for i in range(4)]
