"""Distributed runs on CPU (gloo, loopback): detectron2 configs under torchrun, distributed
evaluation equal to one process, and the Slurm variable mapping (by hand-made environments)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from segclassics.engine.distributed import first_host, slurm_to_torchrun_env
from segclassics.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("nodelist,host", [
    ("node1", "node1"), ("gpu[07-09,12]", "gpu07"), ("gpu[07-09,12],cpu1", "gpu07"), ("a[3]", "a3"),
    ("rack1-n[002-004]-ib", "rack1-n002-ib"), ("x,y", "x")])
def test_first_host_of_a_slurm_node_list(nodelist, host):
    assert first_host(nodelist) == host


def test_slurm_variables_become_torchruns():
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NODELIST": "gpu[07-10]",
           "SLURM_NNODES": "4", "SLURM_NTASKS_PER_NODE": "2(x4)"}
    assert slurm_to_torchrun_env(env) == {"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                                          "MASTER_ADDR": "gpu07", "MASTER_PORT": "29500"}
    assert slurm_to_torchrun_env(dict(env, MASTER_ADDR="head", MASTER_PORT="1234"))["MASTER_ADDR"] == "head"


def test_slurm_launcher_outside_srun_is_one_line():
    with pytest.raises(UserError, match=r"^--launcher slurm: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, "
                                        r"SLURM_NODELIST not set; start the processes with srun"):
        slurm_to_torchrun_env({})


@pytest.mark.slow
def test_detectron2_lazy_config_trains_and_evaluates_in_two_processes(run_tool, tmp_path, synthetic_root):
    """tools/dist_train.sh with a detectron2 LazyConfig on CPU (detectron2's DDP passed
    device_ids=[0] for CPU modules and failed on every rank), then tools/dist_test.sh: the
    gathered metrics equal one process's, to the last digit."""
    config = REPO / "configs/detectron2/unet_synthetic.py"
    opts = ["train.max_iter=2", "train.eval_period=2", "train.checkpointer.period=2", "train.log_period=1",
            f"dataloader.train.dataset.root={synthetic_root}", "dataloader.train.num_workers=0",
            "dataloader.train.total_batch_size=2", "dataloader.test.num_workers=0"]
    env = {"PYTHON": sys.executable, "PORT": "29541", "OMP_NUM_THREADS": "1"}
    work = tmp_path / "work"
    proc = run_tool("dist_train.sh", config, "2", "--work-dir", work, *opts, launcher=["bash"], env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    checkpoint = work / "model_final.pth"
    assert checkpoint.is_file()
    one = tmp_path / "one.json"
    proc = run_tool("test.py", config, checkpoint, "--work-dir", tmp_path / "t1", "--metrics-json", one, *opts)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    two = tmp_path / "two.json"
    proc = run_tool("dist_test.sh", config, checkpoint, "2", "--work-dir", tmp_path / "t2", "--metrics-json", two,
                    *opts, launcher=["bash"], env=dict(env, PORT="29543"), timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert json.loads(two.read_text()) == json.loads(one.read_text())
