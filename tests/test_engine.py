"""tools/train.py and tools/test.py: config dispatch, input errors, runs through both frameworks."""

from __future__ import annotations

import json
import math
import os
import re
import sys
import textwrap

import pytest
import torch

from helpers import REPO, data_root_overrides, error_line, error_message, free_port
from segclassics.engine.config_kind import D2_LAZY, D2_YAML, MMENGINE, detect_config_kind
from segclassics.engine.cpu_precision import cpu_bf16_supported
from segclassics.errors import UserError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


class TestConfigKind:
    def test_our_configs(self):
        assert detect_config_kind(str(REPO / "configs/unet/unet_synthetic.py")) == MMENGINE
        assert detect_config_kind(str(REPO / "configs/setr_ade20k.py")) == MMENGINE
        assert detect_config_kind(str(REPO / "configs/detectron2/common/semseg_synthetic.py")) == D2_LAZY

    def test_kinds_from_text(self, tmp_path):
        assert detect_config_kind(write(tmp_path, "a.py", "_base_ = ['x.py']\n")) == MMENGINE
        assert detect_config_kind(write(tmp_path, "b.py", "from detectron2.config import LazyCall as L\n")) == D2_LAZY
        # a LazyConfig made only of other configs (relative import at top level) ...
        assert detect_config_kind(write(tmp_path, "b2.py", "from .common.data import TRAIN\nmodel = None\n")) == D2_LAZY
        # ... versus mmengine's pure-Python config, which imports its bases inside read_base()
        mm_pure = "from mmengine.config import read_base\nwith read_base():\n    from .base import *\nmodel = None\n"
        assert detect_config_kind(write(tmp_path, "b3.py", mm_pure)) == MMENGINE
        assert detect_config_kind(write(tmp_path, "c.yaml", "_BASE_: x.yaml\nMODEL:\n  DEVICE: cpu\n")) == D2_YAML
        assert detect_config_kind(write(tmp_path, "d.yaml", "model:\n  type: EncoderDecoder\n")) == MMENGINE

    @pytest.mark.parametrize(
        "name,text,message",
        [
            ("e.py", "x = 1\n", "neither an mmengine config"),
            ("f.txt", "x = 1\n", "configs are .py"),
            ("g.py", "def (:\n", "not valid Python"),
            ("h.yaml", "foo: 1\n", "neither a detectron2 yaml"),
        ],
    )
    def test_rejects(self, tmp_path, name, text, message):
        with pytest.raises(UserError, match=message):
            detect_config_kind(write(tmp_path, name, text))

    def test_missing(self, tmp_path):
        with pytest.raises(UserError, match="config not found"):
            detect_config_kind(str(tmp_path / "nope.py"))

    def test_a_folder_names_a_config_in_it(self, tmp_path):
        write(tmp_path, "b.yaml", "MODEL: {}\n")
        write(tmp_path, "a.py", "model = dict()\n")
        write(tmp_path, "_base.py", "x = 1\n")
        write(tmp_path, "metafile.yaml", "Models: []\n")
        with pytest.raises(UserError) as err:
            detect_config_kind(str(tmp_path))
        assert str(err.value) == f"{str(tmp_path)!r} is a folder; give a config file in it, e.g. {tmp_path / 'a.py'}"
        empty = tmp_path / "empty"
        empty.mkdir()
        with pytest.raises(UserError) as err:
            detect_config_kind(str(empty))
        assert str(err.value) == f"{str(empty)!r} is a folder; give a config file"


class TestInputErrors:
    def test_missing_config(self, run_tool, tmp_path):
        assert "config not found" in error_line(run_tool("train.py", tmp_path / "missing.py"))

    def test_a_folder_as_config(self, run_tool):
        assert error_line(run_tool("train.py", "configs/unet")) == (
            "error: 'configs/unet' is a folder; give a config file in it, "
            "e.g. configs/unet/mmseg_unet_s5_d16_fcn_drive_64x64.py"
        )

    def test_unknown_model_type(self, run_tool, tmp_path):
        cfg = write(
            tmp_path,
            "bad.py",
            f"""
            _base_ = ['{REPO}/configs/unet/unet_synthetic.py']
            model = dict(type='NoSuchSegmentor', _delete_=True)
            train_dataloader = dict(dataset=dict(data_root='{tmp_path}/syn'))
            val_dataloader = dict(dataset=dict(data_root='{tmp_path}/syn'))
            """,
        )
        line = error_line(run_tool("train.py", cfg, "--work-dir", tmp_path / "w"))
        assert "NoSuchSegmentor" in line and "registry" in line

    def test_missing_dataset_names_place_and_howto(self, run_tool, tmp_path):
        line = error_line(
            run_tool("train.py", REPO / "configs/setr_ade20k.py", "--work-dir", tmp_path / "w", cwd=tmp_path)
        )
        assert "ADE20KDataset" in line and "ADEChallengeData2016" in line and "unzip" in line

    def test_missing_checkpoint(self, run_tool, tmp_path):
        line = error_line(run_tool("test.py", REPO / "configs/unet/unet_synthetic.py", tmp_path / "none.pth"))
        assert "checkpoint not found" in line


def test_tools_never_import_detectron2_tools_package():
    """detectron2's wheel ships a top-level ``tools`` package; ours must not pick it up."""
    for script in (REPO / "tools").rglob("*.py"):
        text = script.read_text()
        assert not re.search(r"^\s*(from|import)\s+tools\b", text, re.M), script
    import importlib.util

    spec = importlib.util.find_spec("tools")
    assert spec is None or str(REPO) in str(spec.origin or spec.submodule_search_locations), (
        f"a foreign 'tools' package is importable: {spec}"
    )


def _last_val_metric(log: str, pattern: str) -> str:
    """The metric of the last validation a training log reports, as printed (``pattern`` captures it)."""
    values = re.findall(pattern, log)
    assert values, f"no {pattern!r} in the training log: {log[-2000:]}"
    return values[-1]


D2_MIOU = r"copypaste: mIoU,fwIoU,mACC,pACC\n.*copypaste: ([0-9.]+),"  # detectron2's print_csv_format


def _test_metrics(proc) -> dict:
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("metrics: "))[9:])


@pytest.mark.slow
def test_mmengine_train_then_test_with_overlays(run_tool, tmp_path, synthetic_root):
    """2 iterations of the demo config through tools/train.py, then tools/test.py --show-dir."""
    data = synthetic_root
    opts = [
        "--cfg-options",
        "train_cfg.max_iters=2",
        "train_cfg.val_interval=2",
        "default_hooks.checkpoint.interval=2",
        "default_hooks.logger.interval=1",
        *data_root_overrides(data),
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False",
        "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
    ]
    work = tmp_path / "work"
    proc = run_tool("train.py", REPO / "configs/unet/unet_synthetic.py", "--work-dir", work, *opts)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert "Iter(train) [2/2]" in log and "eta:" in log  # progress with ETA
    val_miou = _last_val_metric(log, r"mIoU: ([0-9.]+)")  # validation at the end of training
    checkpoint = (work / "last_checkpoint").read_text().strip()
    assert os.path.isfile(checkpoint)
    show = tmp_path / "show"
    proc = run_tool(
        "test.py", REPO / "configs/unet/unet_synthetic.py", checkpoint, "--work-dir", work, "--show-dir", show, *opts
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # test.py evaluates the saved model on the same images: the validation's mIoU (mmseg rounds to 0.01)
    assert _test_metrics(proc)["mIoU"] == float(val_miou)
    assert len(list(show.rglob("*.png"))) == 4  # one overlay per val image of the fixture size
    # a second run into the same --show-dir keeps the first run's overlays unless told otherwise; the
    # visualizer records its config first, so the refusal comes before any evaluation
    first = show / "vis_data" / "config.py"
    proc = run_tool(
        "test.py", REPO / "configs/unet/unet_synthetic.py", checkpoint, "--work-dir", work, "--show-dir", show, *opts
    )
    assert error_message(proc) == (
        f"{first} exists and was not written by this run; it is kept. Pass --overwrite "
        f"to replace it, or choose another place than --show-dir"
    )
    proc = run_tool(
        "test.py",
        REPO / "configs/unet/unet_synthetic.py",
        checkpoint,
        "--work-dir",
        work,
        "--show-dir",
        show,
        "--overwrite",
        *opts,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert len(list(show.rglob("*.png"))) == 4


@pytest.mark.slow
def test_resume_continues_from_checkpoint(run_tool, tmp_path, synthetic_root):
    data = synthetic_root
    common = [
        *data_root_overrides(data, ("train", "val")),
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False",
        "default_hooks.checkpoint.interval=2",
        "train_cfg.val_interval=100",
        "default_hooks.logger.interval=1",
    ]
    work = tmp_path / "work"
    proc = run_tool(
        "train.py",
        REPO / "configs/unet/unet_synthetic.py",
        "--work-dir",
        work,
        "--cfg-options",
        "train_cfg.max_iters=2",
        *common,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_tool(
        "train.py",
        REPO / "configs/unet/unet_synthetic.py",
        "--work-dir",
        work,
        "--resume",
        "--cfg-options",
        "train_cfg.max_iters=4",
        *common,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "resumed" in log.lower() and "Iter(train) [4/4]" in log and "Iter(train) [1/4]" not in log


@pytest.mark.slow
def test_distributed_two_cpu_processes(run_tool, tmp_path, synthetic_root):
    """torchrun with 2 gloo processes (tools/dist_train.sh) completes a short training."""
    data = synthetic_root
    proc = run_tool(
        "dist_train.sh",
        REPO / "configs/unet/unet_synthetic.py",
        "2",
        "--work-dir",
        tmp_path / "w",
        "--cfg-options",
        "train_cfg.max_iters=2",
        "train_cfg.val_interval=2",
        "default_hooks.checkpoint.interval=2",
        "default_hooks.logger.interval=1",
        *data_root_overrides(data, ("train", "val")),
        "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False",
        launcher=["bash"],
        env={"PYTHON": sys.executable, "PORT": str(free_port()), "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert "Distributed training: True" in log
    assert "Iter(val) [2/2]" in log  # the 4 val images are split over the 2 ranks
    assert "mIoU:" in log


@pytest.mark.slow
def test_detectron2_lazy_train_then_test_with_overlays(run_tool, tmp_path, synthetic_root):
    """2 iterations of a detectron2 LazyConfig through tools/train.py, then tools/test.py."""
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
    work = tmp_path / "work"
    proc = run_tool("train.py", config, "--work-dir", work, *opts)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert "iter: 1" in log and "eta:" in log  # detectron2's CommonMetricPrinter: progress + ETA
    # EvalHook ran SemSegEvaluator at the end: print_csv_format's "copypaste" line, 4 decimals
    val_miou = _last_val_metric(log, D2_MIOU)
    checkpoint = work / "model_final.pth"
    assert checkpoint.is_file()
    show = tmp_path / "show"
    proc = run_tool("test.py", config, checkpoint, "--work-dir", work, "--show-dir", show, *opts)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # test.py evaluates the saved model on the same images as the final evaluation of the training
    assert f"{_test_metrics(proc)['sem_seg/mIoU']:.4f}" == val_miou
    assert len(list(show.glob("*.png"))) == 4


@pytest.mark.slow
def test_checkpoint_of_another_model_is_refused(run_tool, tmp_path, synthetic_root):
    """test.py with a checkpoint whose keys do not match names the keys instead of loading partially."""
    import torch

    bogus = tmp_path / "other.pth"
    torch.save({"state_dict": {"backbone.not_a_layer.weight": torch.zeros(3)}}, bogus)
    proc = run_tool(
        "test.py",
        REPO / "configs/unet/unet_synthetic.py",
        bogus,
        "--work-dir",
        tmp_path / "w",
        "--cfg-options",
        f"test_dataloader.dataset.data_root={synthetic_root}",
    )
    line = error_line(proc)
    assert (
        line.startswith(f"error: {bogus} does not match EncoderDecoder: ")
        and "weights of the model missing in the file" in line
        and "; 1 unexpected (backbone.not_a_layer.weight); " in line
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "config,opts,expect",
    [
        (
            "configs/unet/unet_synthetic.py",
            [
                "--cfg-options",
                "train_cfg.max_iters=2",
                "train_cfg.val_interval=100",
                "default_hooks.logger.interval=1",
                "train_dataloader.num_workers=0",
                "train_dataloader.persistent_workers=False",
            ],
            "CPUBF16AmpOptimWrapper",
        ),
        (
            "configs/detectron2/unet_synthetic.py",
            [
                "train.max_iter=2",
                "train.eval_period=0",
                "train.log_period=1",
                "dataloader.train.num_workers=0",
                "dataloader.train.total_batch_size=2",
            ],
            "iter: 1",
        ),
    ],
)
def test_amp_on_cpu_trains(run_tool, tmp_path, synthetic_root, config, opts, expect):
    """--amp without a GPU trains under bf16 autocast in both frameworks (their AMP wrappers need CUDA)."""
    if config.endswith("synthetic.py") and "detectron2" in config:
        opts = opts + [f"dataloader.train.dataset.root={synthetic_root}"]
    else:
        opts = opts + [
            *data_root_overrides(synthetic_root, ("train", "val")),
        ]
    proc = run_tool("train.py", REPO / config, "--amp", "--work-dir", tmp_path / "w", *opts)
    if not cpu_bf16_supported():  # e.g. an AVX2-only CPU: refused, bf16 would run far slower than fp32
        capability = torch.backends.cpu.get_cpu_capability()
        assert error_message(proc) == (
            f"--amp on this CPU: it has no native bfloat16 support (torch reports CPU capability {capability}; bf16 "
            "needs AVX-512 or AMX), so bf16 autocast would run several times slower than fp32; run without --amp"
        )
        return
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert expect in log
    # every logged loss is finite: float() also parses mmengine's / detectron2's "nan" and "inf"
    losses = [float(x) for x in re.findall(r"(?:total_loss|\bloss): (\S+?),?\s", log)]
    assert losses and all(math.isfinite(x) for x in losses), losses


@pytest.mark.slow
def test_detectron2_yaml_train_then_test(run_tool, tmp_path, synthetic_root):
    """A detectron2 yaml config (CfgNode + DefaultTrainer) through tools/train.py and tools/test.py."""
    config = REPO / "configs/detectron2/unet_synthetic.yaml"
    env = {"SEGCLASSICS_SYNTHETIC_ROOT": str(synthetic_root)}
    opts = ["SOLVER.MAX_ITER=2", "SOLVER.CHECKPOINT_PERIOD=2", "TEST.EVAL_PERIOD=2", "DATALOADER.NUM_WORKERS=0"]
    work = tmp_path / "work"
    proc = run_tool("train.py", config, "--work-dir", work, *opts, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert "iter: 1" in log
    val_miou = _last_val_metric(log, D2_MIOU)
    proc = run_tool("test.py", config, work / "model_final.pth", "--work-dir", work, *opts, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert f"{_test_metrics(proc)['sem_seg/mIoU']:.4f}" == val_miou


def test_cpu_amp_runs_forward_under_bf16_autocast_where_supported(monkeypatch):
    """The CPU half of --amp, independent of this machine's CPU: with bf16 support the mmengine
    optim wrapper becomes CPUBF16AmpOptimWrapper, whose optim_context enters bf16 autocast (the
    weights stay fp32); without it, _enable_amp refuses before anything runs."""
    from mmengine.config import Config

    from segclassics.engine import cpu_precision, mmengine_runner
    from segclassics.openmmlab.cpu_amp_optim_wrapper import CPUBF16AmpOptimWrapper

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cpu_precision, "cpu_bf16_supported", lambda: True)
    cfg = Config(dict(optim_wrapper=dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=0.1))))
    mmengine_runner._enable_amp(cfg)
    assert cfg.optim_wrapper.type == "CPUBF16AmpOptimWrapper"
    model = torch.nn.Linear(4, 2)
    wrapper = CPUBF16AmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert model(torch.randn(3, 4)).dtype == torch.bfloat16
    assert model.weight.dtype == torch.float32
    monkeypatch.setattr(cpu_precision, "cpu_bf16_supported", lambda: False)
    cfg = Config(dict(optim_wrapper=dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=0.1))))
    with pytest.raises(UserError, match="no native bfloat16 support"):
        mmengine_runner._enable_amp(cfg)
