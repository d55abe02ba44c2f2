"""Hand an mmengine config (mmseg or mmdet scope) to mmengine's ``Runner``.

This follows mmseg's and mmdet's own ``tools/train.py``/``tools/test.py`` (work_dir, amp,
resume, cfg-options, launcher, show-dir), adding: CPU-friendly defaults (gloo for
distributed CPU runs, bf16 autocast for ``--amp`` without a GPU), a data check that names a
missing dataset instead of failing inside the dataset class, checkpoints read only as plain
data (``weights_only``; ``--trust-checkpoint`` is the explicit opt-in for legacy files), a key
check of every checkpoint against the model before it is used, and a weights-only copy of the
last and best checkpoints at the end of training.
"""
from __future__ import annotations

import glob
import os
import os.path as osp

import torch

from segclassics.utils.resume import resume_checkpoint
from segclassics.utils.writer import take_work_dir

from .config_loader import load_config
from .cpu_precision import require_cpu_bf16
from .data_check import add_sample_checks, check_mmengine_class_counts, check_mmengine_data
from .errors import UserError


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _load_cfg(args):
    from segclassics.openmmlab.checkpoint_loading import use_checked_local_loader
    use_checked_local_loader(trusted=getattr(args, "trust_checkpoint", False))
    cfg = load_config(args.config, args.cfg_options).cfg
    cfg.launcher = args.launcher
    add_sample_checks(cfg)  # every sample's sizes, label values and decoding are checked
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir", None) is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(args.config.split("::")[-1]))[0])
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
        require_cpu_bf16("--amp")
        from segclassics.openmmlab import cpu_amp_optim_wrapper  # noqa: F401  (registers the wrapper)
        cfg.optim_wrapper.type = "CPUBF16AmpOptimWrapper"


def _build_runner(cfg):
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if "runner_type" not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def _check_checkpoint_matches(runner, checkpoint: str, trusted: bool) -> None:
    """mmengine loads ``load_from``/resume checkpoints with ``strict=False`` and only logs
    mismatches; a checkpoint of another model must fail instead, naming the keys."""
    from mmengine.model import is_model_wrapper

    from segclassics.utils.checkpoint import check_state_dict, read_state_dict
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    check_state_dict(model, read_state_dict(checkpoint, trusted=trusted), source=checkpoint)


def _check_starting_point(runner, checkpoint: str, trusted: bool) -> None:
    """``load_from`` is loaded with ``strict=False`` (fine-tuning may change a head), but a file
    sharing no weight with the model would leave it at its random initialisation."""
    from mmengine.model import is_model_wrapper

    from segclassics.utils.checkpoint import check_shares_weights, read_state_dict
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    check_shares_weights(model, read_state_dict(checkpoint, trusted=trusted), checkpoint, "load_from")


def train(args) -> dict:
    cfg = _load_cfg(args)
    from segclassics.openmmlab.non_finite_loss_hook import enable_non_finite_loss_check
    from segclassics.openmmlab.random_state_hook import enable_random_state_checkpoints
    enable_non_finite_loss_check(cfg)
    enable_random_state_checkpoints(cfg)
    if args.amp:
        _enable_amp(cfg)
    if args.resume:  # a complete training checkpoint, or one line saying there is none
        cfg.load_from = resume_checkpoint(cfg.work_dir, args.resume, args.trust_checkpoint)
        cfg.resume = True
    if getattr(args, "auto_scale_lr", False):
        if "auto_scale_lr" not in cfg or "base_batch_size" not in cfg.auto_scale_lr:
            raise UserError("--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the config")
        cfg.auto_scale_lr.enable = True
    loaders = ["train_dataloader"] + (["val_dataloader"] if cfg.get("val_cfg") else [])
    check_mmengine_data(cfg, loaders)
    check_mmengine_class_counts(cfg, args.config)
    if is_main_process():
        take_work_dir(cfg.work_dir, resume=bool(args.resume), overwrite=args.overwrite)
    runner = _build_runner(cfg)
    if args.resume:
        _check_checkpoint_matches(runner, cfg.load_from, args.trust_checkpoint)
    elif cfg.get("load_from"):
        _check_starting_point(runner, cfg.load_from, args.trust_checkpoint)
    runner.train()
    _publish_weights(cfg.work_dir)
    return {}


def _publish_weights(work_dir: str) -> None:
    """Write ``last_weights.pth`` (and ``best_weights.pth`` when the run kept a best checkpoint):
    weights + plain metadata, loadable by ``init_model``/``init_detector``/``torch.load`` under
    ``weights_only=True`` with no allow-list."""
    from mmengine.dist import is_main_process
    from mmengine.logging import print_log
    from mmengine.runner import find_latest_checkpoint

    from segclassics.utils.checkpoint import publish_checkpoint
    if not is_main_process():
        return
    sources = {"last_weights.pth": find_latest_checkpoint(work_dir)}
    best = sorted(glob.glob(osp.join(work_dir, "best_*.pth")), key=osp.getmtime)
    if best:
        sources["best_weights.pth"] = best[-1]
    for name, src in sources.items():
        if src and osp.isfile(src):
            dst = publish_checkpoint(src, osp.join(work_dir, name))
            print_log(f"weights of {osp.basename(src)} (weights-only file): {dst}", logger="current")


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
    check_mmengine_data(cfg, ["test_dataloader"])
    runner = _build_runner(cfg)
    _check_checkpoint_matches(runner, args.checkpoint, args.trust_checkpoint)
    metrics = runner.test()
    if args.show_dir:
        os.makedirs(args.show_dir, exist_ok=True)
    return dict(metrics or {})
