"""Hand an mmengine config (mmseg or mmdet scope) to mmengine's ``Runner``.

This follows mmseg's and mmdet's own ``tools/train.py``/``tools/test.py`` (work_dir, amp,
resume, cfg-options, launcher, show-dir), adding: CPU-friendly defaults (gloo for
distributed CPU runs, torchrun or Slurm joined as in :mod:`.distributed`, bf16 autocast for
``--amp`` without a GPU), a data check that names a missing dataset instead of failing inside
the dataset class, checkpoints read only as plain data (``weights_only``; ``--trust-checkpoint``
is the explicit opt-in for legacy files), a key
check of every checkpoint against the model before it is used, and a weights-only copy of the
last and best checkpoints at the end of training.

The run's own substitutions (checked loaders, our hooks, the CPU bf16 optimizer wrapper, the
gloo DDP wrapper) go into a runtime copy of the config only; the config mmengine saves into the
work dir and the checkpoints is :func:`segclassics.openmmlab.portable_config.portable_config` of
the user's, which the frameworks' own tools and inferencers load.
"""

from __future__ import annotations

import glob
import os
import os.path as osp

import torch

from segclassics.utils.reader import require_checkpoint
from segclassics.utils.resume import resume_checkpoint
from segclassics.utils.writer import default_work_dir, take_work_dir

from ..errors import UserError
from .config_loader import load_config
from .cpu_precision import require_cpu_bf16, to_channels_last


def _backend():
    """The mmengine backend (its data checks)."""
    from .backends import backend_of_kind
    from .config_kind import MMENGINE

    return backend_of_kind(MMENGINE)


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _load_cfg(args):
    """``(runtime, saved)``: the config the runner runs, and the one it writes (module docstring)."""
    from segclassics.openmmlab.checkpoint_loading import use_checked_local_loader

    use_checked_local_loader(trusted=getattr(args, "trust_checkpoint", False))
    cfg = load_config(args.config, args.cfg_options).cfg
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir", None) is None:
        cfg.work_dir = default_work_dir(args.config)
    from segclassics.openmmlab.portable_config import portable_config

    saved = portable_config(cfg)
    _backend().add_sample_checks(cfg)  # every sample's sizes, label values and decoding are checked
    from .distributed import init_distributed

    if init_distributed(args.launcher, args.dist_timeout):
        # The group is joined here for both launchers (the Runner skips init_dist when one
        # exists): Slurm's variables are torchrun's by now, and the timeout is --dist-timeout.
        cfg.launcher = "pytorch"
        if not torch.cuda.is_available():
            # NCCL needs GPUs; CPU processes talk over gloo, and mmengine's DDP wrapper passes
            # device_ids=[LOCAL_RANK], which torch rejects for CPU modules.
            cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})["backend"] = "gloo"
            wrapper = cfg.get("model_wrapper_cfg", None) or dict(type="MMDistributedDataParallel")
            wrapper.setdefault("device_ids", None)
            wrapper.setdefault("find_unused_parameters", cfg.get("find_unused_parameters", False))
            cfg.model_wrapper_cfg = wrapper
    return cfg, saved


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
    from mmengine.logging import print_log

    # the saved config keeps the user's wrapper (amp is this run's choice): say which one runs
    print_log(f"--amp: optim_wrapper {cfg.optim_wrapper.type}", logger="current")


def _build_runner(cfg, saved):
    """The runner of ``cfg`` (``runner_type`` or mmengine's ``Runner``, built by its ``from_cfg``
    as mmengine's tools do) whose ``runner.cfg`` -- what mmengine dumps into the work dir, the
    visualizer's ``vis_data/config.py`` and every checkpoint's ``meta.cfg`` -- is ``saved``."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    if "runner_type" in cfg:
        with RUNNERS.switch_scope_and_registry(cfg.get("_scope_", None)) as registry:
            runner_cls = registry.get(cfg.runner_type) if isinstance(cfg.runner_type, str) else cfg.runner_type
    else:
        runner_cls = Runner
    runtime_wrapper = cfg.get("model_wrapper_cfg", None)

    class SavingPortableConfig(runner_cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **dict(kwargs, cfg=saved))

        def wrap_model(self, model_wrapper_cfg, model):
            # mmengine reads the wrapper from runner.cfg; ours (gloo DDP on CPU) is runtime-only
            return super().wrap_model(runtime_wrapper, model)

    SavingPortableConfig.__name__ = SavingPortableConfig.__qualname__ = runner_cls.__name__
    return SavingPortableConfig.from_cfg(cfg)


def _unwrapped(model):
    """The model whose weights a checkpoint holds: inside a DDP wrapper or a test-time-augmentation
    model (``--tta``), as mmengine's checkpoint loading unwraps them."""
    from mmengine.model import BaseTTAModel, is_model_wrapper

    return model.module if is_model_wrapper(model) or isinstance(model, BaseTTAModel) else model


def _check_checkpoint_matches(runner, checkpoint: str, trusted: bool) -> None:
    """mmengine loads ``load_from``/resume checkpoints with ``strict=False`` and only logs
    mismatches; a checkpoint of another model must fail instead, naming the keys."""
    from segclassics.utils.checkpoint import check_state_dict, read_state_dict

    model = _unwrapped(runner.model)
    check_state_dict(model, read_state_dict(checkpoint, trusted=trusted), source=checkpoint)


def _check_starting_point(runner, checkpoint: str, trusted: bool) -> None:
    """``load_from`` is loaded with ``strict=False`` (fine-tuning may change a head), but a file
    sharing no weight with the model would leave it at its random initialisation."""
    from segclassics.utils.checkpoint import check_shares_weights, read_state_dict

    model = _unwrapped(runner.model)
    check_shares_weights(model, read_state_dict(checkpoint, trusted=trusted), checkpoint, "load_from")


def train(args) -> dict:
    cfg, saved = _load_cfg(args)
    from segclassics.openmmlab.non_finite_loss_hook import enable_non_finite_loss_check
    from segclassics.openmmlab.random_state_hook import enable_random_state_checkpoints
    from segclassics.openmmlab.rank0_buffers_hook import enable_rank0_buffers

    enable_non_finite_loss_check(cfg)
    enable_random_state_checkpoints(cfg)
    enable_rank0_buffers(cfg)  # a distributed validation scores the model rank 0 saves
    if args.amp:
        _enable_amp(cfg)
    if args.resume:  # a complete training checkpoint, or one line saying there is none
        cfg.load_from = resume_checkpoint(cfg.work_dir, args.resume, args.trust_checkpoint)
        cfg.resume = True
    if getattr(args, "auto_scale_lr", False):
        if "auto_scale_lr" not in cfg or "base_batch_size" not in cfg.auto_scale_lr:
            raise UserError("--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the config")
        cfg.auto_scale_lr.enable = saved.auto_scale_lr.enable = True  # the user's choice: saved too
    loaders = ["train_dataloader"] + (["val_dataloader"] if cfg.get("val_cfg") else [])
    _backend().prepare_run(cfg, args.config, loaders)  # data present, splits not empty, class counts
    if is_main_process():
        take_work_dir(cfg.work_dir, resume=bool(args.resume), overwrite=args.overwrite)
    runner = _build_runner(cfg, saved)
    if args.resume:
        _check_checkpoint_matches(runner, cfg.load_from, args.trust_checkpoint)
    elif cfg.get("load_from"):
        _check_starting_point(runner, cfg.load_from, args.trust_checkpoint)
    if args.channels_last:
        to_channels_last(runner.model)  # the same Parameter objects: the optimizer's stay valid
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
    # both frameworks' hooks hand each drawing to the visualizer's backends, which write
    # <save_dir>/vis_data/vis_image/<name>_<step>.png through the writer (never over files this run
    # did not write, never into a dataset's folder); mmdet's own test_out_dir would write with
    # mmcv.imwrite under the image's file name instead
    hook.pop("test_out_dir", None)
    cfg.visualizer["save_dir"] = osp.abspath(show_dir)
    cfg.visualizer["vis_backends"] = [dict(type="CheckedLocalVisBackend")]


def test(args) -> dict:
    cfg, saved = _load_cfg(args)
    cfg.load_from = require_checkpoint(args.checkpoint)
    if args.show_dir:
        _enable_show_dir(cfg, args.show_dir)
    if getattr(args, "out", None):
        _enable_out(cfg, args.out, args.config)
    if getattr(args, "tta", False):
        _enable_tta(cfg, args.config)
    _backend().prepare_run(cfg, args.config, ["test_dataloader"])
    runner = _build_runner(cfg, saved)
    _check_checkpoint_matches(runner, args.checkpoint, args.trust_checkpoint)
    if getattr(args, "out", None) and _task(cfg) == "instance":
        from segclassics.mmdet.dump_det_results import CheckedDumpDetResults

        runner.test_evaluator.metrics.append(CheckedDumpDetResults(out_file_path=args.out))
    metrics = runner.test()
    if args.show_dir:
        os.makedirs(args.show_dir, exist_ok=True)
    return dict(metrics or {})


def _task(cfg) -> "str | None":
    """``'semantic'`` (mmseg) or ``'instance'`` (mmdet): the task of the config's default scope."""
    from .backends.mmengine import TASKS

    return TASKS.get(cfg.get("default_scope", None))


def _mmseg_only(cfg, option: str, config: str) -> None:
    if _task(cfg) != "semantic":
        raise UserError(
            f"{option} applies to mmseg configs (semantic segmentation); {config} has default_scope "
            f"{cfg.get('default_scope', None)!r}"
        )


def _enable_out(cfg, out: str, config: str) -> None:
    """mmseg's ``tools/test.py --out DIR``: every test evaluator writes ``DIR/<image stem>.png``
    with the predicted labels (``output_dir``) and keeps them (``keep_results``). mmdet's
    ``--out FILE.pkl``: the predictions pickled into one file (``test`` appends the metric that
    writes it, :class:`segclassics.mmdet.dump_det_results.CheckedDumpDetResults`)."""
    from segclassics.utils.writer import check_writable

    if _task(cfg) == "instance":
        if not out.endswith((".pkl", ".pickle")):
            raise UserError(
                f"--out {out}: for an mmdet config ({config}) --out names the pickle file of the "
                f"predictions, ending in .pkl or .pickle (as mmdet's tools/test.py)"
            )
        check_writable(out, what="--out")  # refused before testing, not after it
        return
    _mmseg_only(cfg, "--out", config)
    check_writable(osp.join(out, "prediction.png"), what="--out")  # a dataset folder is refused before testing
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
    for evaluator in evaluators:
        evaluator["output_dir"] = out
        evaluator["keep_results"] = True


def _enable_tta(cfg, config: str) -> None:
    """mmseg's ``tools/test.py --tta``: the test set runs through ``tta_pipeline`` (one image, several
    augmented views) and ``tta_model`` (mmseg's ``SegTTAModel``: averages their scores) wraps the model."""
    _mmseg_only(cfg, "--tta", config)
    if not cfg.get("tta_pipeline", None):
        raise UserError(
            f"--tta: {config} has no tta_pipeline (the test-time augmentations); this config is meant "
            f"to be evaluated without them (run without --tta), or add tta_pipeline and tta_model "
            f"to it (see configs/_base_/tta/)"
        )
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    _backend().add_sample_checks(cfg)  # the new pipeline's image loading is checked as the config's own
    tta_model = cfg.get("tta_model", None) or dict(type="SegTTAModel")
    tta_model["module"] = cfg.model
    cfg.model = tta_model
