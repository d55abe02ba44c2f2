"""``tools/train.py --channels-last``: the model trains with its 4-d weights stored channels-last
(NHWC), in every runner (mmengine, detectron2 LazyConfig, detectron2 yaml). The fact checked is
the layout of the convolution weights the run saved: torch.save keeps a tensor's strides, so a
model that trained channels-last writes channels-last weights, one that trained NCHW writes
NCHW ones."""

from __future__ import annotations

import pytest
import torch

from helpers import REPO, data_root_overrides
from segclassics.utils.checkpoint import load_checkpoint_file, state_dict_of

RUNS = {
    "mmseg": (
        REPO / "configs/unet/unet_synthetic.py",
        [
            "--cfg-options",
            "train_cfg.max_iters=2",
            "train_cfg.val_interval=100",
            "default_hooks.checkpoint.interval=2",
            "train_dataloader.num_workers=0",
            "train_dataloader.persistent_workers=False",
        ],
        "iter_2.pth",
    ),
    "detectron2-lazy": (
        REPO / "configs/detectron2/unet_synthetic.py",
        ["train.max_iter=2", "train.eval_period=0", "dataloader.train.num_workers=0"],
        "model_final.pth",
    ),
    "detectron2-yaml": (
        REPO / "configs/detectron2/unet_synthetic.yaml",
        ["SOLVER.MAX_ITER=2", "TEST.EVAL_PERIOD=0", "DATALOADER.NUM_WORKERS=0"],
        "model_final.pth",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("run", sorted(RUNS))
def test_channels_last_training_saves_channels_last_weights(run, run_tool, tmp_path, synthetic_root):
    config, opts, saved = RUNS[run]
    data = data_root_overrides(synthetic_root, ("train", "val")) if run == "mmseg" else []
    if run == "detectron2-lazy":
        data = [f"dataloader.train.dataset.root={synthetic_root}"]
    proc = run_tool(
        "train.py",
        config,
        "--work-dir",
        tmp_path / "w",
        "--channels-last",
        *opts,
        *data,
        env={"SEGCLASSICS_SYNTHETIC_ROOT": str(synthetic_root)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    weights = state_dict_of(load_checkpoint_file(str(tmp_path / "w" / saved)), saved)
    convs = {k: v for k, v in weights.items() if v.dim() == 4 and v.shape[-1] > 1 and v.shape[1] > 1}
    assert convs, sorted(weights)[:20]
    nchw = [k for k, v in convs.items() if not v.is_contiguous(memory_format=torch.channels_last)]
    assert not nchw, nchw
    assert not any(v.is_contiguous() for v in convs.values())
