"""The config.yaml detectron2's default_setup saves for a Mask R-CNN LazyConfig runs again on its own:
its datasets are registered by ``import segclassics.detectron2``, not by the .py config that named them,
and its ShapeSpecs are written as LazyCalls the safe yaml loader accepts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("detectron2")

WRITE = """
import argparse, sys
import segclassics.detectron2
from detectron2.config import LazyConfig
from detectron2.engine import default_setup
config, out = sys.argv[1:]
cfg = LazyConfig.load(config)
cfg.train.output_dir = out
default_setup(cfg, argparse.Namespace(config_file=config, eval_only=False, opts=[]))
"""

# a fresh interpreter: nothing but the saved file and (first line) the package import
LOAD = """
import sys
{imports}
from detectron2.config import LazyConfig, instantiate
cfg = LazyConfig.load(sys.argv[1])
batch = next(iter(instantiate(cfg.dataloader.train)))
print("BATCH", len(batch), tuple(batch[0]["image"].shape), len(batch[0]["instances"]) > 0)
model = instantiate(cfg.model)  # ShapeSpecs were saved as the LazyCalls that build them
print("BOX HEAD INPUT", model.roi_heads.box_head._output_size, model.roi_heads.mask_head.deconv.in_channels)
"""


def _python(code: str, *args, env: dict, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        env=env,
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=300,
    )


def test_saved_mask_rcnn_config_builds_its_train_loader_in_a_fresh_process(repo_root, shared_data, tmp_path):
    isbi = shared_data("isbi2012")
    env = dict(os.environ, SEGCLASSICS_ISBI2012=str(isbi), OMP_NUM_THREADS="1")
    out = tmp_path / "run"
    config = repo_root / "configs/detectron2/mask_rcnn_R_18_FPN_isbi2012.py"
    done = _python(WRITE, config, out, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = out / "config.yaml"
    assert "isbi2012_cells_train" in saved.read_text()

    from segclassics.engine.config_kind import D2_LAZY, detect_config_kind

    assert detect_config_kind(str(saved)) == D2_LAZY  # our tools take it as the LazyConfig it is

    # elsewhere (another working directory), from the saved file alone
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    built = _python(LOAD.format(imports="import segclassics.detectron2"), saved, env=env, cwd=elsewhere)
    assert built.returncode == 0, built.stderr[-3000:]
    # 4 crops of 256 x 256 per iteration (the config's), each with cells
    assert "BATCH 4 (3, 256, 256) True" in built.stdout
    assert "BOX HEAD INPUT 512 128" in built.stdout  # the R18 config's 512-d box fcs on 128-channel FPN

    # without segclassics.detectron2 the names are unknown to detectron2: the import is what registers them
    bare = _python(LOAD.format(imports=""), saved, env=env, cwd=elsewhere)
    assert bare.returncode != 0 and "'isbi2012_cells_train' is not registered" in bare.stderr
