"""Hand an mmengine config (mmseg or mmdet scope) to mmengine's ``Runner``.

This follows mmseg's and mmdet's own ``tools/train.py``/``tools/test.py`` (work_dir, amp,
resume, cfg-options, launcher, show-dir), adding: CPU-friendly defaults (gloo for
distributed CPU runs, bf16 autocast for ``--amp`` without a GPU) and a data check that
names a missing dataset instead of failing inside the dataset class.
"""
from __future__ import annotations

import os
import os.path as osp

import torch

from .data_check import check_mmengine_data
from .errors import UserError


def _allow_mmengine_checkpoints() -> None:
    """mmengine 0.10.7 pickles its message hub (``HistoryBuffer``, numpy arrays) into every
    checkpoint and calls ``torch.load`` without ``weights_only``; torch >= 2.6 defaults that
    to True and refuses those files, which breaks ``--resume`` and ``load_from``. torch's own
    switch restores the pre-2.6 behaviour for calls that do not choose (as mmengine's do not).
    As with any pickle, only load checkpoints you trust."""
    if "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ:
        os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


def _load_cfg(args):
    _allow_mmengine_checkpoints()
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir", None) is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])
    scope = cfg.get("default_scope", None)
    if scope not in ("mmseg", "mmdet"):
        raise UserError(f"{args.config}: default_scope is {scope!r}; segclassics runs 'mmseg' and 'mmdet' configs")
    if args.launcher != "none" and not torch.cuda.is_available():
        # NCCL needs GPUs; CPU processes talk over gloo. mmengine's init_dist calls
        # torch.cuda.set_device unconditionally, so the group is joined here (the Runner
        # skips init_dist when a group exists), and its DDP wrapper passes
        # device_ids=[LOCAL_RANK], which torch rejects for CPU modules.
        if args.launcher != "pytorch":
            raise UserError(f"--launcher {args.launcher} without a GPU: use --launcher pytorch (torchrun)")
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group(backend="gloo")
        cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})["backend"] = "gloo"
        wrapper = cfg.get("model_wrapper_cfg", None) or dict(type="MMDistributedDataParallel")
        wrapper.setdefault("device_ids", None)
        wrapper.setdefault("find_unused_parameters", cfg.get("find_unused_parameters", False))
        cfg.model_wrapper_cfg = wrapper
    return cfg


def _enable_amp(cfg):
    optim_wrapper = cfg.optim_wrapper.get("type", "OptimWrapper")
    if optim_wrapper in ("AmpOptimWrapper", "CPUBF16AmpOptimWrapper"):
        return
    if optim_wrapper != "OptimWrapper":
        raise UserError(f"--amp needs optim_wrapper.type='OptimWrapper' (got {optim_wrapper!r})")
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.loss_scale = "dynamic"
    else:
        from . import cpu_amp_optim_wrapper  # noqa: F401  (registers the wrapper)
        cfg.optim_wrapper.type = "CPUBF16AmpOptimWrapper"


def _build_runner(cfg):
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if "runner_type" not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def train(args) -> dict:
    cfg = _load_cfg(args)
    if args.amp:
        _enable_amp(cfg)
    if args.resume:
        cfg.resume = True
        cfg.load_from = None if args.resume == "auto" else args.resume
        if cfg.load_from is not None and not osp.isfile(cfg.load_from):
            raise UserError(f"--resume {args.resume!r}: no such checkpoint file")
    if getattr(args, "auto_scale_lr", False):
        if "auto_scale_lr" not in cfg or "base_batch_size" not in cfg.auto_scale_lr:
            raise UserError("--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the config")
        cfg.auto_scale_lr.enable = True
    loaders = ["train_dataloader"] + (["val_dataloader"] if cfg.get("val_cfg") else [])
    check_mmengine_data(cfg, loaders)
    runner = _build_runner(cfg)
    runner.train()
    return {}


def _enable_show_dir(cfg, show_dir):
    hooks = cfg.default_hooks
    if "visualization" not in hooks:
        raise UserError("--show-dir needs default_hooks.visualization (SegVisualizationHook / DetVisualizationHook)")
    hook = hooks["visualization"]
    hook["draw"] = True
    hook["interval"] = 1
    if cfg.default_scope == "mmdet":
        hook["test_out_dir"] = osp.abspath(show_dir)  # mmdet writes <work_dir>/<timestamp>/<test_out_dir>
    else:
        cfg.visualizer["save_dir"] = osp.abspath(show_dir)  # mmseg: <save_dir>/vis_data/vis_image


def test(args) -> dict:
    cfg = _load_cfg(args)
    if not osp.isfile(args.checkpoint):
        raise UserError(f"checkpoint not found: {args.checkpoint!r}")
    cfg.load_from = args.checkpoint
    if args.show_dir:
        _enable_show_dir(cfg, args.show_dir)
    if getattr(args, "out", None):
        cfg.test_evaluator["output_dir"] = args.out
        cfg.test_evaluator["keep_results"] = True
    check_mmengine_data(cfg, ["test_dataloader"])
    runner = _build_runner(cfg)
    # mmengine loads load_from with strict=False and only logs mismatches; a test on a
    # checkpoint of another model must fail instead, naming the keys.
    from mmengine.model import is_model_wrapper
    from segclassics.utils.checkpoint import check_state_dict, read_state_dict
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    check_state_dict(model, read_state_dict(args.checkpoint))
    metrics = runner.test()
    if args.show_dir:
        os.makedirs(args.show_dir, exist_ok=True)
    return dict(metrics or {})
