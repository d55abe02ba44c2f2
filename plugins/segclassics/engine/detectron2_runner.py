"""Hand a detectron2 config (LazyConfig ``.py`` or yaml) to detectron2's own trainers.

LazyConfigs follow detectron2's ``tools/lazyconfig_train_net.py`` (``model``,
``dataloader.{train,test,evaluator}``, ``optimizer``, ``lr_multiplier``, ``train``); yaml
configs go to ``DefaultTrainer`` with an evaluator chosen from the dataset's
``evaluator_type``. Added here: ``torchrun`` support (``--launcher pytorch``), bf16
autocast for ``--amp`` on CPU (detectron2's ``AMPTrainer`` requires CUDA), a strict key
check of checkpoints given to test.py, and overlay PNGs for ``--show-dir``.
"""
from __future__ import annotations

import logging
import os
import os.path as osp

import torch
from torch import nn

from .errors import UserError

logger = logging.getLogger("segclassics")


class AutocastForward(nn.Module):
    """Runs the wrapped model's forward under ``torch.autocast`` (bf16 on CPU)."""

    def __init__(self, model: nn.Module, device_type: str = "cpu", dtype=torch.bfloat16):
        super().__init__()
        self.module, self.device_type, self.dtype = model, device_type, dtype

    def forward(self, *args, **kwargs):
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            return self.module(*args, **kwargs)


def init_distributed(args) -> None:
    """Join the process group torchrun set up (RANK/WORLD_SIZE/LOCAL_RANK in the env)."""
    if args.launcher == "none":
        return
    if args.launcher != "pytorch":
        raise UserError(f"--launcher {args.launcher}: detectron2 configs support 'none' and 'pytorch' (torchrun)")
    import torch.distributed as dist
    from detectron2.utils import comm
    if "RANK" not in os.environ:
        raise UserError("--launcher pytorch must run under torchrun (tools/dist_train.sh CONFIG NPROC)")
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    comm.create_local_process_group(int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size())))


def _output_dir(args, default_attr_value):
    if args.work_dir is not None:
        return args.work_dir
    if default_attr_value and default_attr_value not in ("./output", "output"):
        return default_attr_value
    return osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])


def load_config(args):
    """Load and override a detectron2 config; returns (cfg, is_lazy)."""
    import segclassics.detectron2  # noqa: F401  (registers our backbones/heads/datasets)
    overrides = list(args.cfg_options or []) + list(args.opts or [])
    if args.config.endswith((".yaml", ".yml")):
        from detectron2.config import get_cfg
        from segclassics.detectron2.config import add_segclassics_config
        cfg = add_segclassics_config(get_cfg())
        cfg.merge_from_file(args.config)
        cfg.merge_from_list([x for kv in overrides for x in kv.split("=", 1)])
        cfg.OUTPUT_DIR = _output_dir(args, cfg.OUTPUT_DIR)
        if not torch.cuda.is_available():
            cfg.MODEL.DEVICE = "cpu"
        cfg.freeze()
        return cfg, False
    from detectron2.config import LazyConfig
    cfg = LazyConfig.load(args.config)
    cfg = LazyConfig.apply_overrides(cfg, overrides)
    cfg.train.output_dir = _output_dir(args, cfg.train.get("output_dir"))
    if not torch.cuda.is_available() and str(cfg.train.get("device", "cpu")).startswith("cuda"):
        cfg.train.device = "cpu"
    return cfg, True


def _evaluate_lazy(cfg, model):
    from detectron2.config import instantiate
    from detectron2.evaluation import inference_on_dataset, print_csv_format
    if "evaluator" not in cfg.dataloader:
        return {}
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
    init_distributed(args)
    cfg, lazy = load_config(args)
    _default_setup(cfg, args)
    if not lazy:
        return _train_yaml(cfg, args)
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import instantiate
    from detectron2.engine import AMPTrainer, SimpleTrainer, create_ddp_model, default_writers, hooks
    from detectron2.utils import comm

    model = instantiate(cfg.model)
    model.to(cfg.train.device)
    logger.info("Model:\n%s", model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    train_loader = instantiate(cfg.dataloader.train)
    ddp_model = create_ddp_model(model, **cfg.train.get("ddp", {}))
    amp = args.amp or cfg.train.get("amp", {}).get("enabled", False)
    if amp and cfg.train.device.startswith("cuda"):
        trainer = AMPTrainer(ddp_model, train_loader, optimizer)
    else:
        trainer = SimpleTrainer(AutocastForward(ddp_model) if amp else ddp_model, train_loader, optimizer)
    checkpointer = DetectionCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    trainer.register_hooks([
        hooks.IterationTimer(),
        hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
        hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer) if comm.is_main_process() else None,
        hooks.EvalHook(cfg.train.eval_period, lambda: _evaluate_lazy(cfg, model)),
        hooks.PeriodicWriter(default_writers(cfg.train.output_dir, cfg.train.max_iter),
                             period=cfg.train.log_period) if comm.is_main_process() else None,
    ])
    resume = bool(args.resume)
    if args.resume and args.resume != "auto":
        if not osp.isfile(args.resume):
            raise UserError(f"--resume {args.resume!r}: no such checkpoint file")
        checkpointer.resume_or_load(args.resume, resume=True)
    else:
        checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=resume)
    start_iter = trainer.iter + 1 if resume and checkpointer.has_checkpoint() else 0
    trainer.train(start_iter, cfg.train.max_iter)
    return {}


def _yaml_trainer_class():
    from detectron2.data import MetadataCatalog
    from detectron2.engine import DefaultTrainer
    from detectron2.evaluation import COCOEvaluator, SemSegEvaluator

    class Trainer(DefaultTrainer):
        """DefaultTrainer with an evaluator chosen by the dataset's ``evaluator_type``."""

        @classmethod
        def build_evaluator(cls, cfg, dataset_name, output_folder=None):
            kind = MetadataCatalog.get(dataset_name).get("evaluator_type", "coco")
            if kind == "sem_seg":
                return SemSegEvaluator(dataset_name, distributed=True, output_dir=output_folder)
            return COCOEvaluator(dataset_name, output_dir=output_folder)

    return Trainer


def _train_yaml(cfg, args) -> dict:
    trainer = _yaml_trainer_class()(cfg)
    if args.amp and not cfg.MODEL.DEVICE.startswith("cuda"):
        trainer._trainer.model = AutocastForward(trainer._trainer.model)
    trainer.resume_or_load(resume=bool(args.resume))
    trainer.train()
    return {}


def _build_and_load(cfg, lazy, checkpoint):
    from detectron2.checkpoint import DetectionCheckpointer
    from segclassics.utils.checkpoint import check_state_dict, read_state_dict
    if lazy:
        from detectron2.config import instantiate
        model = instantiate(cfg.model).to(cfg.train.device)
    else:
        from detectron2.modeling import build_model
        model = build_model(cfg)
    if not osp.isfile(checkpoint):
        raise UserError(f"checkpoint not found: {checkpoint!r}")
    check_state_dict(model, read_state_dict(checkpoint))
    DetectionCheckpointer(model).load(checkpoint)
    model.eval()
    return model


def test(args) -> dict:
    init_distributed(args)
    cfg, lazy = load_config(args)
    _default_setup(cfg, args)
    model = _build_and_load(cfg, lazy, args.checkpoint)
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
        for name, value in (metrics.items() if isinstance(metrics, dict) else [(task, metrics)]):
            flat[f"{task}/{name}"] = float(value)
    return flat


@torch.no_grad()
def write_overlays(model, loader, dataset_name, show_dir, score_threshold: float = 0.5) -> int:
    """Draw predictions on the input images with detectron2's ``Visualizer``; returns count."""
    from detectron2.data import MetadataCatalog
    from detectron2.data.detection_utils import read_image
    from detectron2.utils.visualizer import Visualizer
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
            drawn.save(osp.join(show_dir, name))
            count += 1
    logger.info("wrote %d overlay PNGs to %s", count, osp.abspath(show_dir))
    return count
