"""The weights in weights/: each is the published file of one reproduction (fp16, weights only, its
sha256 prefix in its name), named by exactly one metafile entry, read through the weights-only
reader; together at most 20 MB; and ``tools/test.py CONFIG WEIGHTS`` on the real data gives the
metafile's (and so the model zoo row's) numbers exactly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
import yaml

from helpers import REPO

WEIGHTS = REPO / "weights"
MAX_TOTAL_BYTES = 20 * 1000 * 1000


def _models_with_weights():
    index = yaml.safe_load((REPO / "model-index.yml").read_text())
    return [
        m for path in index["Import"] for m in yaml.safe_load((REPO / path).read_text())["Models"] if m.get("Weights")
    ]


SHIPPED = _models_with_weights()


def test_every_weights_file_is_named_by_one_metafile_entry():
    files = sorted(p.name for p in WEIGHTS.glob("*.pth"))
    named = sorted(Path(m["Weights"]).name for m in SHIPPED)
    assert files == named
    assert all(m["Weights"] == f"weights/{Path(m['Weights']).name}" for m in SHIPPED)


def test_weights_fit_the_size_budget():
    assert sum(p.stat().st_size for p in WEIGHTS.glob("*.pth")) <= MAX_TOTAL_BYTES


@pytest.mark.parametrize("model", SHIPPED, ids=[m["Name"] for m in SHIPPED])
def test_weights_are_the_published_fp16_file_of_their_config(model):
    from segclassics.utils.checkpoint import read_state_dict

    path = REPO / model["Weights"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.name == f"{Path(model['Config']).stem}-{digest[:8]}.pth"
    state = read_state_dict(str(path))  # the weights-only reader every tool uses
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    assert set(torch.load(path, weights_only=True)) <= {"state_dict", "meta"}
    assert "Results" in model and model["Metadata"]["Training Resources"]


@pytest.mark.slow
@pytest.mark.parametrize("model", SHIPPED, ids=[m["Name"] for m in SHIPPED])
def test_test_py_on_the_weights_gives_the_published_numbers(model, shared_data, run_tool, tmp_path):
    """What the model zoo row says is what a user gets from ``tools/test.py CONFIG WEIGHTS``
    (one thread, as the reproduction evaluated them)."""
    from segclassics.engine.reproduce import RECIPES, data_options, prepare_data

    (recipe,) = [r for r in RECIPES.values() if r.config == model["Config"]]
    data_root = shared_data(recipe.dataset).parent
    root = prepare_data(recipe, str(data_root), str(tmp_path / "work"))
    out = tmp_path / "metrics.json"
    proc = run_tool(
        "test.py",
        REPO / model["Config"],
        REPO / model["Weights"],
        "--work-dir",
        tmp_path / "test",
        "--metrics-json",
        out,
        "--cfg-options",
        *data_options(root),
        *recipe.extra_test_options,
        env={"OMP_NUM_THREADS": "1"},
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = json.loads(out.read_text())
    results = model["Results"] if isinstance(model["Results"], list) else [model["Results"]]
    published = {k: v for res in results for k, v in res["Metrics"].items()}
    assert {k: metrics[k] for k in published} == published
