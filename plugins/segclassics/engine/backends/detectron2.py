"""The detectron2 backends: LazyConfigs (``.py``) and yaml configs (``CfgNode``), run by
detectron2's trainers (:mod:`segclassics.engine.detectron2_runner`).

Both build the model as detectron2 does, predict with the test mapper's augmentations
(:class:`Detectron2Predictor`), give the ``backbone`` + ``sem_seg_head`` forward to export and
benchmark, and feed the benchmark lists of dicts. They differ in where a config keeps things:
LazyConfig ``dataloader.test.mapper.image_format`` / ``train.device`` / ``dataloader.*.dataset``
against yaml ``INPUT.FORMAT`` / ``MODEL.DEVICE`` / ``DATASETS.*``.

``data_root=DIR`` (LazyConfigs): sets ``root`` of every dataloader's dataset that takes one
(``registered_dataset_dicts``, which registers the dataset under that root). Datasets that
``import segclassics.detectron2`` registers by name (COCO, ISBI 2012 cells, VOC, CamVid, the
synthetic shapes), as detectron2's builtin ones, move with an environment variable, read at that
import (detectron2's own move with ``DETECTRON2_DATASETS``); yaml configs name registered datasets
only. A config naming only those refuses ``data_root=`` with one line naming the variables.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from ...errors import UserError
from ..config_kind import D2_LAZY, D2_YAML
from ..config_loader import (
    LoadedConfig,
    _check_lazy_key,
    _check_value,
    _current,
    _literal,
    _run_config,
)
from ..inference import (
    Predictor,
    SemanticPrediction,
    _instances,
    _num_classes,
    _refuse_valid_unet_without_tiles,
    head_num_classes,
)
from .base import DATA_ROOT_KEY, Backend, split_data_root

SPLITS = ("train", "test")


def _registered_by_name(root: str, file: str, what: str, names: Sequence[str]) -> UserError:
    """The refusal of ``data_root=root`` for a config whose datasets are registered by name:
    ``what`` says where the config names them; the variables that move them are named."""
    from segclassics.detectron2.datasets import root_variables

    variables = root_variables(list(dict.fromkeys(names)))
    moves = sorted({v for v in variables.values() if v})
    others = [name for name, v in variables.items() if not v]
    how = []
    if moves:
        how.append(f"set {' and '.join(f'{v}=DIR' for v in moves)} in the environment instead")
    if others:
        how.append(f"register {', '.join(others)} at your copy with detectron2's DatasetCatalog")
    return UserError(
        f"{DATA_ROOT_KEY}={root} for {file}: {what} datasets registered by name ({', '.join(variables) or 'none'}), "
        f"which take no root; {' and '.join(how) or 'name a dataset'}"
    )


class Detectron2Backend(Backend):
    """What LazyConfigs and yaml configs share. ``lazy``: the config is a LazyConfig (the runner
    trains it the way detectron2's ``lazyconfig_train_net.py`` does, a yaml one with ``DefaultTrainer``)."""

    lazy: bool

    def framework(self, cfg) -> str:
        return "detectron2"

    # the per-kind parts
    def input_format(self, cfg) -> str:
        """The image format of the test mapper (detectron2's: 'BGR', 'RGB', 'L')."""
        raise NotImplementedError

    def wanted_device(self, cfg) -> str:
        raise NotImplementedError

    def test_dataset_names(self, cfg) -> list:
        raise NotImplementedError

    def test_augmentations(self, cfg, model):
        """``(T.AugmentationList, image format)`` of the test mapper."""
        raise NotImplementedError

    # ------------------------------------------------------------------------- shared
    def device(self, loaded: LoadedConfig) -> str:
        """The device the config asks for, or 'cpu' when it asks for CUDA on a machine without."""
        wanted = str(self.wanted_device(loaded.cfg))
        return wanted if not wanted.startswith("cuda") or torch.cuda.is_available() else "cpu"

    def input_order(self, loaded: LoadedConfig) -> str:
        """Channel order of the images the config feeds its model ('BGR', 'RGB' or 'L')."""
        return self.input_format(loaded.cfg)

    def prepare_run(self, cfg, config: str, loaders: Sequence[str]) -> None:
        # the checks python -m segclassics.detectron2.train_net makes too
        from segclassics.detectron2.run_checks import check_run

        check_run(cfg, self.lazy, config, loaders)

    def train(self, args) -> dict:
        from .. import detectron2_runner

        return detectron2_runner.train(args)

    def test(self, args) -> dict:
        from .. import detectron2_runner

        return detectron2_runner.test(args)

    def forget_process_groups(self) -> None:
        from ..detectron2_runner import forget_process_groups

        forget_process_groups()

    def task(self, loaded, model) -> str:
        from detectron2.modeling import GeneralizedRCNN, SemanticSegmentor

        if isinstance(model, SemanticSegmentor):
            return "semantic"
        if isinstance(model, GeneralizedRCNN):
            return "instance"
        raise UserError(
            f"{loaded.file}: infer.py predicts with semantic segmentors (SemanticSegmentor) and "
            f"R-CNN detectors (GeneralizedRCNN); this config builds {type(model).__name__}"
        )

    def num_classes(self, model) -> Optional[int]:
        return _num_classes(model)

    def predictor(self, loaded, checkpoint, device, trusted, amp):
        return Detectron2Predictor(loaded, checkpoint, device, trusted, amp)

    def overlap_tile_fix(self) -> str:
        return "the OverlapTileSemanticSegmentor meta-architecture"

    def is_instance_export(self, model) -> bool:
        from segclassics.detectron2.onnx_export import is_mask_rcnn

        return is_mask_rcnn(model)

    def semantic_forward(self, loaded, model, border):
        from ..semantic_forward import SemanticForward, _flat

        return SemanticForward(
            _Detectron2SemSeg(model, crop=not border),
            _flat(model.pixel_mean),
            _flat(model.pixel_std),
            self.input_order(loaded),
            False,
            border,
        )

    def benchmark_model(self, loaded, model, config):
        from ..benchmark_inputs import BuiltModel

        has_sem = hasattr(model, "sem_seg_head")
        has_inst = hasattr(model, "roi_heads")
        if not (has_sem or has_inst):
            raise UserError(
                f"{config}: {type(model).__name__} has neither sem_seg_head nor roi_heads; the benchmark "
                f"feeds semantic-segmentation or instance inputs"
            )
        task = "+".join(t for t, ok in (("semantic", has_sem), ("instance", has_inst)) if ok)
        nc_sem = (head_num_classes(model, ("sem_seg_head",)) or 2) if has_sem else 0
        nc_inst = (head_num_classes(model, ("roi_heads",)) or 1) if has_inst else 0
        return BuiltModel(model, "detectron2", task, nc_sem or nc_inst, config, extra=dict(num_thing_classes=nc_inst))

    def benchmark_inputs(self, built, batch, shape, device):
        from ..benchmark_inputs import make_detectron2_inputs

        return make_detectron2_inputs(built, batch, shape, device)

    def forward_fns(self, built, data):
        from detectron2.utils.events import EventStorage

        model = built.model

        def infer():
            return model(data["test"])

        storage = EventStorage(0)  # detectron2's losses log to the current event storage

        def loss():
            with storage:
                return sum(v for v in model(data["train"]).values())

        return infer, loss


class Detectron2LazyBackend(Detectron2Backend):
    kind = D2_LAZY
    lazy = True

    def default_output_dir(self, cfg):
        return cfg.train.get("output_dir")

    def configure_run(self, loaded, output_dir: str):
        """The config of a run: its output folder and device set, every sample checked."""
        cfg = loaded.cfg
        cfg.train.output_dir = output_dir
        cfg.train.device = self.device(loaded)
        self.add_sample_checks(cfg)  # every sample's sizes, label values and decoding are checked
        return cfg

    def load(self, file: str, overrides: Sequence[str]):
        from detectron2.config import LazyConfig

        import segclassics.detectron2  # noqa: F401  (registers our backbones/heads/datasets)

        cfg = _run_config(LazyConfig.load, file, "detectron2 LazyConfig")
        data_root, overrides = split_data_root(overrides)
        if data_root is not None:
            self._move_data_root(cfg, data_root, file)
        for item in overrides:
            key, text = item.split("=", 1)
            _check_lazy_key(cfg, key.lstrip("+"), file)
            _check_value(key.lstrip("+"), _literal(text), _current(cfg, key.lstrip("+")), file)
        return LazyConfig.apply_overrides(cfg, overrides)

    @staticmethod
    def _root_datasets(cfg):
        """``(config key, dataset node)`` of each dataloader whose dataset takes a ``root``."""
        loaders = cfg.get("dataloader", None) or {}
        for split in SPLITS:
            loader = loaders.get(split, None)
            dataset = loader.get("dataset", None) if loader is not None else None
            if dataset is not None and hasattr(dataset, "get") and "root" in dataset:
                yield f"dataloader.{split}.dataset", dataset

    @staticmethod
    def _named_datasets(cfg) -> list:
        """The dataset names the dataloaders read (``names`` / ``name`` of their datasets)."""
        names = []
        loaders = cfg.get("dataloader", None) or {}
        for split in SPLITS:
            dataset = (loaders.get(split, None) or {}).get("dataset", None) or {}
            found = dataset.get("names", dataset.get("name", None)) if hasattr(dataset, "get") else None
            names += [found] if isinstance(found, str) else list(found or [])
        return names

    def _move_data_root(self, cfg, root: str, file: str) -> None:
        found = list(self._root_datasets(cfg))
        if not root:
            raise UserError(f"{DATA_ROOT_KEY}= for {file}: give a folder, {DATA_ROOT_KEY}=DIR")
        if not found:
            raise _registered_by_name(root, file, "this config's dataloaders read", self._named_datasets(cfg))
        for _, dataset in found:
            dataset["root"] = root

    def build_model(self, loaded, device):
        from detectron2.config import instantiate

        if "model" not in loaded.cfg:
            raise UserError(f"{loaded.file}: no `model` in the LazyConfig")
        return instantiate(loaded.cfg.model).to(device)

    def add_sample_checks(self, cfg) -> int:
        from ..data_check import add_detectron2_sample_checks

        return add_detectron2_sample_checks(cfg)

    def input_format(self, cfg) -> str:
        return cfg.get("dataloader", {}).get("test", {}).get("mapper", {}).get("image_format", "BGR")

    def wanted_device(self, cfg) -> str:
        return cfg.train.get("device", "cpu")

    def test_dataset_names(self, cfg) -> list:
        dataset = cfg.get("dataloader", {}).get("test", {}).get("dataset", {})
        names = dataset.get("names", dataset.get("name"))
        return [names] if isinstance(names, str) else list(names or [])

    def test_augmentations(self, cfg, model):
        import detectron2.data.transforms as T
        from detectron2.config import instantiate

        mapper = cfg.get("dataloader", {}).get("test", {}).get("mapper", {})
        augmentations = instantiate(mapper.get("augmentations", []))
        image_format = mapper.get("image_format") or getattr(model, "input_format", None) or "RGB"
        return T.AugmentationList(list(augmentations)), image_format


class Detectron2YamlBackend(Detectron2Backend):
    kind = D2_YAML
    lazy = False

    def default_output_dir(self, cfg):
        return cfg.OUTPUT_DIR

    def configure_run(self, loaded, output_dir: str):
        """The config of a run: its output folder and device set, frozen."""
        cfg = loaded.cfg
        cfg.OUTPUT_DIR = output_dir
        cfg.MODEL.DEVICE = self.device(loaded)
        cfg.freeze()
        return cfg

    def load(self, file: str, overrides: Sequence[str]):
        from detectron2.config import get_cfg

        import segclassics.detectron2  # noqa: F401
        from segclassics.detectron2.config import add_segclassics_config, merge_or_report

        cfg = merge_or_report(add_segclassics_config(get_cfg()), file)
        data_root, overrides = split_data_root(overrides)
        if data_root is not None:
            names = [*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST]
            raise _registered_by_name(data_root, file, "this yaml config's DATASETS.TRAIN/TEST name", names)
        for item in overrides:
            key, text = item.split("=", 1)
            _check_value(key, _literal(text), _current(cfg, key), file)
        return merge_or_report(cfg, file, [x for kv in overrides for x in kv.split("=", 1)])

    def build_model(self, loaded, device):
        from detectron2.modeling import build_model as d2_build_model

        cfg = loaded.cfg.clone()
        cfg.defrost()
        cfg.MODEL.DEVICE = device
        return d2_build_model(cfg)

    def input_format(self, cfg) -> str:
        return cfg.INPUT.FORMAT

    def wanted_device(self, cfg) -> str:
        return cfg.MODEL.DEVICE

    def test_dataset_names(self, cfg) -> list:
        return list(cfg.DATASETS.TEST) or list(cfg.DATASETS.TRAIN)

    def test_augmentations(self, cfg, model):
        import detectron2.data.transforms as T
        from detectron2.data.detection_utils import build_augmentation

        return T.AugmentationList(build_augmentation(cfg, is_train=False)), cfg.INPUT.FORMAT


# ----------------------------------------------------------------------------- semantic forward


class _Detectron2SemSeg(nn.Module):
    def __init__(self, model: nn.Module, crop: bool):
        super().__init__()
        self.model, self.crop = model, crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, _ = self.model.sem_seg_head(self.model.backbone(x), None)
        return logits[..., : x.shape[-2], : x.shape[-1]] if self.crop else logits


# ----------------------------------------------------------------------------- predictor


class Detectron2Predictor(Predictor):
    """detectron2 LazyConfigs and yaml configs: ``SemanticSegmentor`` (and subclasses) and
    ``GeneralizedRCNN``."""

    def __init__(self, loaded: LoadedConfig, checkpoint: str, device: str, trusted: bool, amp: bool):
        super().__init__(loaded, device, amp)
        import segclassics.detectron2  # noqa: F401  (our parts and default datasets)
        from segclassics.detectron2.datasets import classes_for_task
        from segclassics.detectron2.overlap_tile_segmentor import OverlapTileSemanticSegmentor

        backend = loaded.backend
        self.model = backend.build_model(loaded, device)
        self.task = backend.task(loaded, self.model)
        if self.task == "semantic":
            _refuse_valid_unet_without_tiles(loaded, self.model, isinstance(self.model, OverlapTileSemanticSegmentor))
        meta = self.load_weights(checkpoint, trusted)
        self.num_classes = loaded.backend.num_classes(self.model)
        self.augmentations, image_format = backend.test_augmentations(loaded.cfg, self.model)
        self.image_format = image_format
        self.image_mode = "L" if image_format == "L" else "RGB"
        self.classes, self.palette = classes_for_task(meta.get("dataset_meta") or self._catalog_meta(), self.task)

    def _catalog_meta(self) -> dict:
        """Classes and colours registered for the config's test dataset, if it is registered."""
        from detectron2.data import DatasetCatalog

        from segclassics.detectron2.datasets import dataset_meta_of

        names = [n for n in self.loaded.backend.test_dataset_names(self.loaded.cfg) if n in DatasetCatalog.list()]
        if not names:
            return {}
        return dataset_meta_of(names[0])

    def _input(self, image: np.ndarray) -> dict:
        import detectron2.data.transforms as T

        height, width = image.shape[:2]
        if self.image_format == "BGR":
            image = image[..., ::-1]
        elif image.ndim == 2:
            image = image[..., None]
        aug_input = T.AugInput(np.ascontiguousarray(image))
        self.augmentations(aug_input)
        tensor = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1))).float()
        return {"image": tensor, "height": height, "width": width}

    @torch.no_grad()
    def predict(self, images: Sequence[np.ndarray]) -> list:
        with self.autocast():
            outputs = self.model([self._input(image) for image in images])
        results = []
        for image, out in zip(images, outputs):
            if self.task == "semantic":
                results.append(SemanticPrediction(labels=out["sem_seg"].argmax(dim=0).cpu().numpy().astype(np.int64)))
            else:
                inst = out["instances"].to("cpu")
                results.append(
                    _instances(
                        inst.pred_boxes.tensor,
                        inst.scores,
                        inst.pred_classes,
                        inst.pred_masks if inst.has("pred_masks") else None,
                        image.shape[:2],
                    )
                )
        return results
