"""Hand a detectron2 config (LazyConfig ``.py`` or yaml) to detectron2's own trainers.

LazyConfigs follow detectron2's ``tools/lazyconfig_train_net.py`` (``model``,
``dataloader.{train,test,evaluator}``, ``optimizer``, ``lr_multiplier``, ``train``); yaml
configs go to ``DefaultTrainer`` with an evaluator chosen from the dataset's
``evaluator_type``. Added here: torchrun and Slurm support (``--launcher pytorch|slurm``, DDP
of CPU modules over gloo: :mod:`.distributed`), bf16
autocast for ``--amp`` on CPU (detectron2's ``AMPTrainer`` requires CUDA), a strict key
check of checkpoints given to test.py, and overlay PNGs for ``--show-dir``.
"""

from __future__ import annotations

import logging
import os
import os.path as osp

import torch
from torch import nn

from ..errors import UserError
from ..utils.reporting import user_facing_message
from .cpu_precision import require_cpu_bf16, to_channels_last

logger = logging.getLogger("segclassics")


class AutocastForward(nn.Module):
    """Runs the wrapped model's forward under ``torch.autocast`` (bf16 on CPU)."""

    def __init__(self, model: nn.Module, device_type: str = "cpu", dtype=torch.bfloat16):
        super().__init__()
        self.module, self.device_type, self.dtype = model, device_type, dtype

    def forward(self, *args, **kwargs):
        from segclassics.utils.amp import amp_autocast

        with amp_autocast(self.device_type, self.dtype):
            return self.module(*args, **kwargs)


def init_distributed(args) -> None:
    """Join the job's process group (:mod:`.distributed`) and detectron2's per-machine group."""
    from .distributed import init_distributed as join

    if not join(args.launcher, args.dist_timeout):
        return
    import torch.distributed as dist
    from detectron2.utils import comm

    if comm._LOCAL_PROCESS_GROUP is None:  # comm.get_local_rank() and friends need it
        comm.create_local_process_group(int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size())))


def forget_process_groups() -> None:
    """Drop detectron2's references to the job's groups: ``comm``'s per-machine group and the
    cached result of ``_get_global_gloo_group`` (the world group under gloo). Kept until the
    interpreter shuts down, a gloo group is destroyed in the middle of that shutdown, which aborts
    the process now and then ("terminate called without an active exception", SIGABRT) after a
    run that finished."""
    from detectron2.utils import comm

    comm._LOCAL_PROCESS_GROUP = None
    comm._get_global_gloo_group.cache_clear()


def _output_dir(args, default_attr_value):
    if args.work_dir is not None:
        return args.work_dir
    if default_attr_value and default_attr_value not in ("./output", "output"):
        return default_attr_value
    from segclassics.utils.writer import default_work_dir

    return default_work_dir(args.config)


def load_config(args):
    """Load and override a detectron2 config (``config_loader``) and set its output folder and
    device (its backend: :mod:`.backends.detectron2`); returns (cfg, is_lazy)."""
    from .config_loader import load_config as load

    loaded = load(args.config, list(args.cfg_options or []) + list(args.opts or []))
    backend = loaded.backend
    cfg = backend.configure_run(loaded, _output_dir(args, backend.default_output_dir(loaded.cfg)))
    return cfg, backend.lazy


def _evaluate_lazy(cfg, model):
    from detectron2.config import instantiate
    from detectron2.evaluation import inference_on_dataset, print_csv_format

    from ..utils.distributed_buffers import broadcast_buffers

    if "evaluator" not in cfg.dataloader:
        return {}
    broadcast_buffers(model)  # every process evaluates the model rank 0 saves
    results = inference_on_dataset(model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator))
    if results:
        print_csv_format(results)
    return results


def _default_setup(cfg, args):
    from detectron2.engine import default_setup

    args.config_file = args.config
    args.eval_only = getattr(args, "checkpoint", None) is not None
    default_setup(cfg, args)


def train(args) -> dict:
    from detectron2.utils import comm

    from segclassics.utils.writer import take_work_dir

    init_distributed(args)
    cfg, lazy = load_config(args)
    from .backends import backend_for

    backend_for(args.config).prepare_run(cfg, args.config, ["train", "test"])  # head classes against the datasets'
    output_dir = cfg.train.output_dir if lazy else cfg.OUTPUT_DIR
    if args.resume:  # said before the work dir is made: a mistyped one does not exist
        from segclassics.utils.resume import resume_checkpoint

        resume_checkpoint(output_dir, args.resume, args.trust_checkpoint)
    if comm.is_main_process():  # one run per work dir; a finished one is not overwritten unasked
        take_work_dir(output_dir, resume=bool(args.resume), overwrite=args.overwrite)
    _default_setup(cfg, args)
    if not args.debug:  # an input error is one line, not detectron2's logged traceback first
        from segclassics.detectron2.log_filter import install

        install(user_facing_message)
    if not lazy:
        return _train_yaml(cfg, args)
    from detectron2.config import instantiate
    from detectron2.engine import AMPTrainer, SimpleTrainer, default_writers, hooks

    from segclassics.detectron2.checkpointer import SafeDetectionCheckpointer

    from .distributed import create_ddp_model

    model = instantiate(cfg.model)
    model.to(cfg.train.device)
    if args.channels_last:
        to_channels_last(model)
    logger.info("Model:\n%s", model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    train_loader = instantiate(cfg.dataloader.train)
    ddp_model = create_ddp_model(model, **cfg.train.get("ddp", {}))
    amp = args.amp or cfg.train.get("amp", {}).get("enabled", False)
    if amp and not cfg.train.device.startswith("cuda"):
        require_cpu_bf16("--amp" if args.amp else "train.amp.enabled")
    if amp and cfg.train.device.startswith("cuda"):
        trainer = AMPTrainer(ddp_model, train_loader, optimizer)
    else:
        trainer = SimpleTrainer(AutocastForward(ddp_model) if amp else ddp_model, train_loader, optimizer)
    checkpointer = SafeDetectionCheckpointer(
        model, cfg.train.output_dir, trusted=args.trust_checkpoint, trainer=trainer
    )
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer) if comm.is_main_process() else None,
            hooks.EvalHook(cfg.train.eval_period, lambda: _evaluate_lazy(cfg, model)),
            hooks.PeriodicWriter(default_writers(cfg.train.output_dir, cfg.train.max_iter), period=cfg.train.log_period)
            if comm.is_main_process()
            else None,
        ]
    )
    start_iter = _resume_or_load(checkpointer, trainer, args, cfg.train.init_checkpoint)
    trainer.train(start_iter, cfg.train.max_iter)
    test_dataset = cfg.dataloader.get("test", {}).get("dataset", {})
    _publish_weights(cfg.train.output_dir, checkpointer, test_dataset.get("names", test_dataset.get("name")))
    return {}


def _resume_or_load(checkpointer, trainer, args, init_checkpoint) -> int:
    """Load what the run starts from; returns the first iteration to run.

    ``--resume FILE`` restores model, optimizer, scheduler and iteration from FILE (detectron2's
    ``resume_or_load`` would take the work dir's ``last_checkpoint`` instead, or skip the optimizer
    when there is none); ``--resume`` alone takes the work dir's newest complete training
    checkpoint (:func:`segclassics.utils.resume.resume_checkpoint`; none is an error, never a
    start from scratch). A checkpoint resumed from must match the model key by key
    (``SafeDetectionCheckpointer.load_exact``); ``init_checkpoint``, a starting point, must share
    weights with the model (``load_starting_point``)."""
    from segclassics.utils.resume import resume_checkpoint

    if not args.resume:
        if init_checkpoint:
            checkpointer.load_starting_point(init_checkpoint)
        return 0
    # a complete training checkpoint (never a weights-only file), or one line saying there is none
    checkpointer.load_exact(resume_checkpoint(checkpointer.save_dir, args.resume, args.trust_checkpoint))
    return trainer.iter + 1


def _publish_weights(output_dir: str, checkpointer, dataset_name) -> None:
    """Write ``last_weights.pth``: the last checkpoint's weights + plain metadata (the iteration,
    and the class names and colours of ``dataset_name`` as mmengine's ``dataset_meta`` has them),
    readable by ``DetectionCheckpointer`` and ``torch.load`` under ``weights_only=True``."""
    from detectron2.utils import comm

    from segclassics.detectron2.datasets import dataset_meta_of
    from segclassics.utils.checkpoint import publish_checkpoint

    if not (comm.is_main_process() and checkpointer.has_checkpoint()):
        return
    if isinstance(dataset_name, (list, tuple)):
        dataset_name = dataset_name[0] if dataset_name else None
    dataset_meta = dataset_meta_of(dataset_name) if dataset_name else {}
    src = checkpointer.get_checkpoint_file()
    dst = publish_checkpoint(
        src, osp.join(output_dir, "last_weights.pth"), extra_meta=dict(dataset_meta=dataset_meta, dataset=dataset_name)
    )
    logger.info("weights of %s (weights-only file): %s", osp.basename(src), dst)


def _yaml_trainer_class():
    from segclassics.detectron2.trainer import Trainer as CheckedTrainer

    from .distributed import detectron2_trainers_use_our_ddp

    class Trainer(CheckedTrainer):
        """``segclassics.detectron2.trainer.Trainer`` (checked samples, the dataset's evaluator)
        with DDP that accepts CPU modules."""

        def __init__(self, cfg, trusted: bool = False):
            with detectron2_trainers_use_our_ddp():
                super().__init__(cfg, trusted)

    return Trainer


def _train_yaml(cfg, args) -> dict:
    trainer = _yaml_trainer_class()(cfg, args.trust_checkpoint)  # its checkpointer is the checked one
    if args.channels_last:
        to_channels_last(trainer._trainer.model)  # the same Parameter objects: the optimizer's stay valid
    if args.amp and not cfg.MODEL.DEVICE.startswith("cuda"):
        require_cpu_bf16("--amp")
        trainer._trainer.model = AutocastForward(trainer._trainer.model)
    trainer.start_iter = _resume_or_load(trainer.checkpointer, trainer, args, cfg.MODEL.WEIGHTS)
    trainer.train()
    _publish_weights(cfg.OUTPUT_DIR, trainer.checkpointer, cfg.DATASETS.TEST)
    return {}


def _build_and_load(cfg, lazy, checkpoint, trusted: bool = False):
    from segclassics.detectron2.checkpointer import SafeDetectionCheckpointer
    from segclassics.utils.reader import require_checkpoint

    if lazy:
        from detectron2.config import instantiate

        model = instantiate(cfg.model).to(cfg.train.device)
    else:
        from detectron2.modeling import build_model

        model = build_model(cfg)
    require_checkpoint(checkpoint)
    SafeDetectionCheckpointer(model, trusted=trusted).load_exact(checkpoint)
    model.eval()
    return model


def test(args) -> dict:
    for option in ("out", "tta"):
        if getattr(args, option, None):
            raise UserError(
                f"--{option} applies to mmseg configs; {args.config} is a detectron2 config "
                f"(--show-dir writes its predictions as overlays)"
            )
    init_distributed(args)
    cfg, lazy = load_config(args)
    from .backends import backend_for

    backend_for(args.config).prepare_run(cfg, args.config, ["test"])  # input channels against the model's
    _default_setup(cfg, args)
    model = _build_and_load(cfg, lazy, args.checkpoint, args.trust_checkpoint)
    if lazy:
        from detectron2.config import instantiate

        results = _evaluate_lazy(cfg, model)

        def loader_fn():
            return instantiate(cfg.dataloader.test)

        dataset_name = cfg.dataloader.test.dataset.get("names", cfg.dataloader.test.dataset.get("name"))
    else:
        from detectron2.evaluation import print_csv_format

        trainer_cls = _yaml_trainer_class()
        results = trainer_cls.test(cfg, model)
        if results:
            print_csv_format(results)

        def loader_fn():
            return trainer_cls.build_test_loader(cfg, cfg.DATASETS.TEST[0])

        dataset_name = cfg.DATASETS.TEST[0]
    if args.show_dir:
        write_overlays(model, loader_fn(), dataset_name, args.show_dir)
    flat = {}
    for task, metrics in (results or {}).items():
        for name, value in metrics.items() if isinstance(metrics, dict) else [(task, metrics)]:
            flat[f"{task}/{name}"] = float(value)
    return flat


@torch.no_grad()
def write_overlays(model, loader, dataset_name, show_dir, score_threshold: float = 0.5) -> int:
    """Draw predictions on the input images with detectron2's ``Visualizer``; returns count."""
    from detectron2.data import MetadataCatalog
    from detectron2.data.detection_utils import read_image
    from detectron2.utils.visualizer import Visualizer

    from segclassics.utils.writer import save_png

    if isinstance(dataset_name, (list, tuple)):
        dataset_name = dataset_name[0]
    metadata = MetadataCatalog.get(dataset_name) if dataset_name else None
    os.makedirs(show_dir, exist_ok=True)
    count = 0
    for inputs in loader:
        for inp, out in zip(inputs, model(inputs)):
            image = read_image(inp["file_name"], format="RGB")
            vis = Visualizer(image, metadata)
            if "instances" in out:
                inst = out["instances"].to("cpu")
                drawn = vis.draw_instance_predictions(inst[inst.scores >= score_threshold])
            elif "sem_seg" in out:
                drawn = vis.draw_sem_seg(out["sem_seg"].argmax(dim=0).to("cpu"), alpha=0.5)
            else:
                continue
            name = osp.splitext(osp.basename(inp["file_name"]))[0] + ".png"
            save_png(osp.join(show_dir, name), drawn.get_image(), what="--show-dir")
            count += 1
    logger.info("wrote %d overlay PNGs to %s", count, osp.abspath(show_dir))
    return count
