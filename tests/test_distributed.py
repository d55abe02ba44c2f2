"""Distributed runs on CPU (gloo, loopback), 2 processes of a few iterations on the synthetic data:
detectron2 (LazyConfig, yaml), mmseg and mmdet configs under torchrun with distributed evaluation
equal to one process's, two simulated machines, 2 x batch 1 against 1 x batch 2, resuming, SyncBN
on CPU, a killed process; and the Slurm variable mapping (by hand-made environments).

Every run has a time bound: a launcher that has not ended by then is killed with its workers
and the test fails."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import REPO, data_root_overrides, free_port
from segclassics.engine.distributed import first_host, slurm_to_torchrun_env
from segclassics.errors import UserError


@pytest.mark.parametrize(
    "nodelist,host",
    [
        ("node1", "node1"),
        ("gpu[07-09,12]", "gpu07"),
        ("gpu[07-09,12],cpu1", "gpu07"),
        ("a[3]", "a3"),
        ("rack1-n[002-004]-ib", "rack1-n002-ib"),
        ("x,y", "x"),
    ],
)
def test_first_host_of_a_slurm_node_list(nodelist, host):
    assert first_host(nodelist) == host


def test_slurm_variables_become_torchruns():
    env = {
        "SLURM_PROCID": "5",
        "SLURM_NTASKS": "8",
        "SLURM_LOCALID": "1",
        "SLURM_NODELIST": "gpu[07-10]",
        "SLURM_NNODES": "4",
        "SLURM_NTASKS_PER_NODE": "2(x4)",
    }
    assert slurm_to_torchrun_env(env) == {
        "RANK": "5",
        "WORLD_SIZE": "8",
        "LOCAL_RANK": "1",
        "LOCAL_WORLD_SIZE": "2",
        "MASTER_ADDR": "gpu07",
        "MASTER_PORT": "29500",
    }
    assert slurm_to_torchrun_env(dict(env, MASTER_ADDR="head", MASTER_PORT="1234"))["MASTER_ADDR"] == "head"


def test_slurm_launcher_outside_srun_is_one_line():
    with pytest.raises(
        UserError,
        match=r"^--launcher slurm: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, "
        r"SLURM_NODELIST not set; start the processes with srun",
    ):
        slurm_to_torchrun_env({})


def test_launcher_messages_name_what_a_wheel_installs(monkeypatch):
    # the console script segclassics-train, started by torchrun or srun (no checkout's tools/*.sh)
    from segclassics.engine.distributed import init_distributed

    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(UserError) as err:
        init_distributed("pytorch")
    assert str(err.value) == (
        "--launcher pytorch: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set; run under torchrun "
        "(torchrun --nproc-per-node N --no-python segclassics-train CONFIG --launcher pytorch)"
    )
    with pytest.raises(UserError) as err:
        slurm_to_torchrun_env({})
    assert str(err.value).endswith(
        "start the processes with srun (srun --ntasks N segclassics-train CONFIG --launcher slurm)"
    )


@pytest.mark.slow
def test_detectron2_lazy_config_trains_and_evaluates_in_two_processes(run_tool, tmp_path, synthetic_root):
    """tools/dist_train.sh with a detectron2 LazyConfig on CPU (detectron2's DDP passed
    device_ids=[0] for CPU modules and failed on every rank), then tools/dist_test.sh: the
    gathered metrics equal one process's, to the last digit."""
    config = REPO / "configs/detectron2/unet_synthetic.py"
    opts = [
        "train.max_iter=2",
        "train.eval_period=2",
        "train.checkpointer.period=2",
        "train.log_period=1",
        f"dataloader.train.dataset.root={synthetic_root}",
        "dataloader.train.num_workers=0",
        "dataloader.train.total_batch_size=2",
        "dataloader.test.num_workers=0",
    ]
    env = {"PYTHON": sys.executable, "PORT": str(free_port()), "OMP_NUM_THREADS": "1"}
    work = tmp_path / "work"
    proc = run_tool("dist_train.sh", config, "2", "--work-dir", work, *opts, launcher=["bash"], env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    checkpoint = work / "model_final.pth"
    assert checkpoint.is_file()
    one = tmp_path / "one.json"
    proc = run_tool("test.py", config, checkpoint, "--work-dir", tmp_path / "t1", "--metrics-json", one, *opts)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    two = tmp_path / "two.json"
    proc = run_tool(
        "dist_test.sh",
        config,
        checkpoint,
        "2",
        "--work-dir",
        tmp_path / "t2",
        "--metrics-json",
        two,
        *opts,
        launcher=["bash"],
        env=dict(env, PORT=str(free_port())),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert json.loads(two.read_text()) == json.loads(one.read_text())


# ----------------------------------------------------------------------------- helpers for runs under torchrun


def _launch(script: str, args, log: Path, **env) -> subprocess.Popen:
    """``bash tools/<script> ARGS`` in its own session (so that it and its workers can be killed
    together), stdout and stderr to ``log``."""
    full = dict(
        os.environ,
        PYTHON=sys.executable,
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
        **{k: str(v) for k, v in env.items()},
    )
    with open(log, "w") as out:
        return subprocess.Popen(
            ["bash", str(REPO / "tools" / script), *map(str, args)],
            cwd=REPO,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid``, deepest first (torchrun starts its workers in sessions of their
    own, so killing the launcher's process group leaves them running)."""
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [d for c in children for d in _descendants(c)] + children


def _kill_tree(proc: subprocess.Popen) -> None:
    for pid in [*_descendants(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def _finish(procs, timeout: float) -> list[int]:
    """Wait for every launcher; past ``timeout`` seconds kill them and their workers and fail (a
    hang fails the test)."""
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    except subprocess.TimeoutExpired:
        pytest.fail(f"the distributed run did not end within {timeout} s")
    finally:
        for p in procs:
            if p.poll() is None:
                _kill_tree(p)


def _two_nodes(script: str, args, tmp_path: Path, timeout: float = 300, **env) -> str:
    """A simulated two-machine run: two launcher invocations with NNODES=2, NODE_RANK 0 and 1, one
    process each, rendezvous at 127.0.0.1; both must succeed. Returns node 0's log."""
    port = free_port()
    logs = [tmp_path / f"node{rank}.log" for rank in (0, 1)]
    procs = [
        _launch(script, args, logs[rank], NNODES=2, NODE_RANK=rank, MASTER_ADDR="127.0.0.1", PORT=port, **env)
        for rank in (0, 1)
    ]
    codes = _finish(procs, timeout)
    text = [log.read_text() for log in logs]
    assert codes == [0, 0], f"node 0:\n{text[0][-3000:]}\nnode 1:\n{text[1][-3000:]}"
    return text[0]


def _mm_opts(root: Path, *extra: str) -> list[str]:
    """--cfg-options for configs/unet/unet_synthetic.py on the session's synthetic data."""
    return [
        "--cfg-options",
        *data_root_overrides(root, ("train", "val")),
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False",
        "default_hooks.logger.interval=1",
        "randomness.seed=0",
        *extra,
    ]


def _error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("error: ")]


def _load(path: Path) -> dict:
    from segclassics.utils.checkpoint import load_checkpoint_file

    return load_checkpoint_file(str(path))


def _metrics_of_one_process(config, checkpoint, tmp_path, *args) -> dict:
    """tools/test.py's metrics (--metrics-json) for ``checkpoint``, in one process."""
    out = tmp_path / "one_process.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools/test.py"),
            str(config),
            str(checkpoint),
            "--work-dir",
            str(tmp_path / "one_process"),
            "--metrics-json",
            str(out),
            *map(str, args),
        ],
        cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1"),
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


MM_UNET = REPO / "configs/unet/unet_synthetic.py"
D2_LAZY = REPO / "configs/detectron2/unet_synthetic.py"
D2_YAML = REPO / "configs/detectron2/unet_synthetic.yaml"

# The equivalence runs: the synthetic UNet with GroupNorm instead of BN (BN's statistics are per
# process, so 2 x 1 images cannot equal 1 x 2 with BN), no random flip, no dropout (the config
# has none), AdamW with eps=1.0, 3 iterations, a checkpoint after each.
EQ_ITERS = 3
EQ_OPTS = (
    "model.backbone.norm=GN",
    "model.decode_head.norm=GN",
    "train_dataloader.dataset.pipeline.3.prob=0.0",
    "optim_wrapper.optimizer.eps=1.0",
    f"train_cfg.max_iters={EQ_ITERS}",
    "train_cfg.val_interval=100",
    "default_hooks.checkpoint.interval=1",
    "default_hooks.checkpoint.max_keep_ckpts=10",
)


@pytest.fixture(scope="module")
def two_by_one_and_one_by_two(tmp_path_factory, synthetic_root):
    """The same training (EQ_OPTS) as 2 processes x batch 1 (tools/dist_train.sh) and as 1 process
    x batch 2 (tools/train.py): the two work dirs, and the 2-process run's log."""
    base = tmp_path_factory.mktemp("equivalence")
    two = _launch(
        "dist_train.sh",
        [MM_UNET, 2, "--work-dir", base / "two", *_mm_opts(synthetic_root, *EQ_OPTS, "train_dataloader.batch_size=1")],
        base / "two.log",
        PORT=free_port(),
    )
    assert _finish([two], 300) == [0], (base / "two.log").read_text()[-4000:]
    one = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools/train.py"),
            str(MM_UNET),
            "--work-dir",
            str(base / "one"),
            *_mm_opts(synthetic_root, *EQ_OPTS, "train_dataloader.batch_size=2"),
        ],
        cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1"),
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-4000:]
    return base / "two", base / "one", (base / "two.log").read_text()


@pytest.mark.slow
def test_two_processes_of_batch_1_train_as_one_process_of_batch_2(two_by_one_and_one_by_two):
    """mmengine's InfiniteSampler gives rank r the images r, r+2, ... of one shuffled order (the
    seed is shared), which are the pairs one process takes as batches of 2, and DDP averages
    the two per-process mean losses' gradients: the same gradient as the mean over the batch of 2.

    What differs is the order of the fp32 sums: one process sums each weight's gradient over
    2 x 64 x 64 pixels in one reduction, two sum 64 x 64 each and the all-reduce adds the halves.
    fp32 rounds each sum to 2**-24 ~ 6e-8 relative; blocked sums of 8192 terms carry ~13 such
    roundings, and the backward pass through ~20 layers adds them up: ~2e-5 of a gradient's
    magnitude. With AdamW at eps=1.0 the update is lr * m / (sqrt(v) + 1), nearly linear in the
    gradient, so the weights inherit that relative error. The tolerance, 1e-3 of the largest
    weight change of the last 2 steps, is 50x above it and far below what a wrong gradient gives
    (summed instead of averaged, one process's half lost, other images: a gap of the order of the
    change itself). With AdamW's default eps=1e-8 the update is about lr * sign(g) for tiny
    gradients, and rounding can flip a sign: no tight bound then, hence eps=1.0 here."""
    two, one, log = two_by_one_and_one_by_two
    assert "Distributed training: True" in log and "GPU number: 2" in log  # mmengine's words for 2 processes
    a = _load(two / f"iter_{EQ_ITERS}.pth")["state_dict"]
    b = _load(one / f"iter_{EQ_ITERS}.pth")["state_dict"]
    b1 = _load(one / "iter_1.pth")["state_dict"]
    assert a.keys() == b.keys() == b1.keys()
    floats = [k for k in a if a[k].is_floating_point()]
    gap = max((a[k] - b[k]).abs().max().item() for k in floats)
    change = max((b[k] - b1[k]).abs().max().item() for k in floats)  # what the last 2 steps moved
    assert change > 1e-4  # the runs trained: a gap is measured against a real change
    assert gap <= 1e-3 * change, (gap, change)


@pytest.mark.slow
def test_a_two_process_run_resumes_from_its_checkpoint_in_two_processes(
    two_by_one_and_one_by_two, tmp_path, synthetic_root
):
    """The 2-process run's iteration-3 checkpoint, resumed by 2 processes to iteration 5: it
    starts at iteration 4 (none of 1..3 again) and writes the checkpoints of 4 and 5."""
    work = tmp_path / "two"
    shutil.copytree(two_by_one_and_one_by_two[0], work)  # the fixture's run stays as it was
    proc = _launch(
        "dist_train.sh",
        [
            MM_UNET,
            2,
            "--work-dir",
            work,
            "--resume",
            *_mm_opts(synthetic_root, *EQ_OPTS, "train_dataloader.batch_size=1", "train_cfg.max_iters=5"),
        ],
        tmp_path / "resume.log",
        PORT=free_port(),
    )
    assert _finish([proc], 300) == [0], (tmp_path / "resume.log").read_text()[-4000:]
    log = (tmp_path / "resume.log").read_text()
    assert f"resumed epoch: 0, iter: {EQ_ITERS}" in log
    assert [int(i) for i in re.findall(r"Iter\(train\) \[\s*(\d+)/5\]", log)] == [4, 5]
    assert _load(work / "iter_5.pth")["meta"]["iter"] == 5


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["mmseg", "detectron2"])
def test_syncbn_on_cpu_processes_is_one_line(framework, tmp_path, synthetic_root):
    """torch's SyncBatchNorm synchronises over nccl only and refuses CPU tensors (DDP refuses a
    CPU module holding one): a 2-process CPU run of a config with norm='SyncBN' stops on every
    process with the one line of segclassics.utils.reporting. Whether the statistics are
    synchronised needs GPUs: not tested here."""
    if framework == "mmseg":
        args = [
            MM_UNET,
            2,
            "--work-dir",
            tmp_path / "w",
            *_mm_opts(
                synthetic_root,
                "model.backbone.norm=SyncBN",
                "model.decode_head.norm=SyncBN",
                "train_cfg.max_iters=1",
                "train_dataloader.batch_size=1",
            ),
        ]
    else:
        args = [
            D2_LAZY,
            2,
            "--work-dir",
            tmp_path / "w",
            "model.backbone.norm=SyncBN",
            "model.sem_seg_head.norm=SyncBN",
            "train.max_iter=1",
            f"dataloader.train.dataset.root={synthetic_root}",
            "dataloader.train.num_workers=0",
            "dataloader.train.total_batch_size=2",
        ]
    proc = _launch("dist_train.sh", args, tmp_path / "log", PORT=free_port())
    assert _finish([proc], 300) != [0]
    lines = _error_lines((tmp_path / "log").read_text())
    assert (
        lines
        == [
            "error: norm 'SyncBN' needs one GPU per process in a distributed run (torch's SyncBatchNorm "
            "refuses CPU tensors); on CPU set the config's norm to 'BN' or 'GN'"
        ]
        * 2
    ), lines


@pytest.mark.slow
def test_a_killed_process_stops_the_other_with_one_line(tmp_path, synthetic_root):
    """Two simulated machines, one process each; node 1's training process is killed (SIGKILL, no
    clean-up) once node 0 has trained 2 iterations. Node 0's process stops at its next collective
    with the lost-peer line and a failed exit status: the kill closes the connections
    (--dist-timeout 60 would end a hang at the latest; the 120 s wait below fails the test if
    neither happens)."""
    port = free_port()
    args = [
        MM_UNET,
        1,
        "--work-dir",
        tmp_path / "w",
        "--dist-timeout",
        60,
        *_mm_opts(
            synthetic_root,
            "train_cfg.max_iters=1000",
            "train_cfg.val_interval=1000",
            "default_hooks.checkpoint.interval=1000",
            "train_dataloader.batch_size=1",
        ),
    ]
    logs = [tmp_path / "node0.log", tmp_path / "node1.log"]
    procs = [
        _launch("dist_train.sh", args, logs[rank], NNODES=2, NODE_RANK=rank, MASTER_ADDR="127.0.0.1", PORT=port)
        for rank in (0, 1)
    ]
    try:
        deadline = time.monotonic() + 300
        while not re.search(r"Iter\(train\) \[\s*2/1000\]", logs[0].read_text()):
            assert procs[0].poll() is None and procs[1].poll() is None, logs[0].read_text()[-3000:]
            assert time.monotonic() < deadline, "node 0 logged no second iteration within 300 s"
            time.sleep(0.05)
        workers = _descendants(procs[1].pid)  # torchrun's one worker on node 1
        assert len(workers) == 1, workers
        os.kill(workers[0], signal.SIGKILL)
        killed = time.monotonic()
        codes = _finish(procs, 120)
    finally:
        for p in procs:
            if p.poll() is None:
                _kill_tree(p)
    print(f"both launchers ended {time.monotonic() - killed:.1f} s after the kill")
    log = logs[0].read_text()
    assert codes[0] != 0 and codes[1] != 0
    lines = _error_lines(log)
    assert len(lines) == 1, log[-3000:]
    assert lines[0].startswith("error: distributed run stopped: process 0 of 2 lost a peer at a collective (")
    assert lines[0].endswith(
        "); another process died or hung -- its own log says why. Continue from the last checkpoint with --resume"
    )


@pytest.mark.slow
def test_detectron2_lazy_config_on_two_simulated_machines(tmp_path, synthetic_root):
    """NNODES=2, NODE_RANK 0 and 1, one process each: both train, node 0 writes the checkpoint and
    the distributed evaluation prints detectron2's metrics."""
    opts = [
        "train.max_iter=2",
        "train.eval_period=2",
        "train.checkpointer.period=2",
        "train.log_period=1",
        f"dataloader.train.dataset.root={synthetic_root}",
        "dataloader.train.num_workers=0",
        "dataloader.train.total_batch_size=2",
        "dataloader.test.num_workers=0",
    ]
    log = _two_nodes("dist_train.sh", [D2_LAZY, 1, "--work-dir", tmp_path / "w", *opts], tmp_path)
    assert "iter: 1" in log
    trained = re.findall(r"copypaste: (\S+)", log)  # "Task:", "mIoU,fwIoU,...", the values
    assert trained[-2].startswith("mIoU,")
    # the evaluation split over the machines scored the model node 0 saved (its BN statistics)
    one = _metrics_of_one_process(D2_LAZY, tmp_path / "w" / "model_final.pth", tmp_path, *opts)
    assert f"{one['sem_seg/mIoU']:.4f}" == trained[-1].split(",")[0]


@pytest.mark.slow
def test_mmseg_config_on_two_simulated_machines(tmp_path, synthetic_root):
    """The mmseg twin: the 4 validation images are split over the 2 machines' processes."""
    log = _two_nodes(
        "dist_train.sh",
        [
            MM_UNET,
            1,
            "--work-dir",
            tmp_path / "w",
            *_mm_opts(
                synthetic_root,
                "train_cfg.max_iters=2",
                "train_cfg.val_interval=2",
                "default_hooks.checkpoint.interval=2",
                "train_dataloader.batch_size=1",
            ),
        ],
        tmp_path,
    )
    assert "Distributed training: True" in log and "GPU number: 2" in log
    assert "Iter(val) [2/2]" in log
    # the evaluation split over the machines scored the model node 0 saved (its BN statistics)
    one = _metrics_of_one_process(
        MM_UNET,
        tmp_path / "w" / "iter_2.pth",
        tmp_path,
        "--cfg-options",
        f"test_dataloader.dataset.data_root={synthetic_root}",
        "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
    )
    assert float(re.findall(r" mIoU: (\S+)", log)[-1]) == one["mIoU"]


@pytest.mark.slow
def test_detectron2_yaml_config_trains_and_evaluates_in_two_processes(tmp_path, synthetic_root):
    """A detectron2 yaml config (DefaultTrainer) on 2 processes with its distributed evaluation
    at the end, then tools/dist_test.sh on the checkpoint: the same mIoU."""
    opts = [
        "SOLVER.MAX_ITER=2",
        "SOLVER.CHECKPOINT_PERIOD=2",
        "TEST.EVAL_PERIOD=2",
        "DATALOADER.NUM_WORKERS=0",
        "SOLVER.IMS_PER_BATCH=2",
    ]
    env = {"SEGCLASSICS_SYNTHETIC_ROOT": synthetic_root}
    work = tmp_path / "w"
    proc = _launch(
        "dist_train.sh", [D2_YAML, 2, "--work-dir", work, *opts], tmp_path / "train.log", PORT=free_port(), **env
    )
    assert _finish([proc], 300) == [0], (tmp_path / "train.log").read_text()[-4000:]
    log = (tmp_path / "train.log").read_text()
    trained = re.findall(r"copypaste: (\S+)", log)
    assert trained and "iter: 1" in log
    proc = _launch(
        "dist_test.sh",
        [
            D2_YAML,
            work / "model_final.pth",
            2,
            "--work-dir",
            tmp_path / "t",
            "--metrics-json",
            tmp_path / "m.json",
            *opts,
        ],
        tmp_path / "test.log",
        PORT=free_port(),
        **env,
    )
    assert _finish([proc], 300) == [0], (tmp_path / "test.log").read_text()[-4000:]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert f"{metrics['sem_seg/mIoU']:.4f}" == trained[-1].split(",")[0]


MMDET_SYNTHETIC = """
_base_ = [{base!r}]
data_root = {root!r}
metainfo = dict(classes={classes!r})
model = dict(roi_head=dict(bbox_head=dict(num_classes=5), mask_head=dict(num_classes=5)),
             train_cfg=dict(rcnn=dict(sampler=dict(num=32))))
_train = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
          dict(type='Resize', scale=(64, 64), keep_ratio=True), dict(type='PackDetInputs')]
_test = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
         dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
         dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]
train_dataloader = dict(batch_size=1, dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=_train,
                                                   ann_file='annotations/instances_train.json'))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=_test,
                                   ann_file='annotations/instances_val.json'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json', image_root=data_root)
test_evaluator = val_evaluator
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
"""


@pytest.mark.slow
def test_mmdet_mask_rcnn_trains_and_evaluates_in_two_processes(tmp_path, synthetic_root):
    """Our CPU Mask R-CNN (R18-FPN, GN) on the synthetic shapes' COCO instances, 2 processes: the
    4 validation images are split over them and the COCO metrics are computed once on the
    gathered results."""
    from segclassics.datasets.synthetic import CLASSES

    config = tmp_path / "mask_rcnn_synthetic.py"
    config.write_text(
        MMDET_SYNTHETIC.format(
            base=str(REPO / "configs/mask_rcnn/mask-rcnn_r18_fpn_gn-scratch_isbi2012.py"),
            root=f"{synthetic_root}/",
            classes=tuple(CLASSES[1:]),
        )
    )
    proc = _launch(
        "dist_train.sh",
        [config, 2, "--work-dir", tmp_path / "w"],
        tmp_path / "log",
        PORT=free_port(),
        SEGCLASSICS_CACHE=tmp_path / "cache",
    )
    assert _finish([proc], 300) == [0], (tmp_path / "log").read_text()[-4000:]
    log = (tmp_path / "log").read_text()
    assert "GPU number: 2" in log and "Iter(val) [2/2]" in log
    assert re.search(r"coco/segm_mAP: \S+", log) and re.search(r"coco/bbox_mAP: \S+", log)


LEAVE_GROUPS = """
import sys, torch.distributed as dist
from detectron2.utils import comm
from segclassics.engine.backends import backend_for
from segclassics.engine.cli import _leave_process_group
dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%s", rank=0, world_size=1)
comm.create_local_process_group(1)
comm._get_global_gloo_group()  # what comm.gather and all_gather call with more than one process
before = (comm._LOCAL_PROCESS_GROUP is not None, comm._get_global_gloo_group.cache_info().currsize)
_leave_process_group(backend_for(sys.argv[1]))
print(before, dist.is_initialized(), comm._LOCAL_PROCESS_GROUP, comm._get_global_gloo_group.cache_info().currsize)
"""


def test_leaving_the_job_drops_detectron2s_references_to_its_groups(tmp_path):
    """The end of a detectron2 run destroys the groups and first drops detectron2's own
    references to them (its per-machine group, the cached gloo group), so that they are freed
    while the interpreter is whole, not in its shutdown (where gloo can abort the process)."""
    proc = subprocess.run(
        [sys.executable, "-c", LEAVE_GROUPS % free_port(), str(D2_YAML)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "(True, 1) False None 0"
