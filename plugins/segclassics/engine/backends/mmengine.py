"""The mmengine backend: mmseg (semantic) and mmdet (instance) configs, run by mmengine's ``Runner``.

Config loading (``--cfg-options`` through :class:`mmengine.config.DictAction`, with the key and
value checks of :mod:`segclassics.engine.config_loader`), the model as ``MODELS.build`` makes
it, the run (:mod:`segclassics.engine.mmengine_runner`, data checks of
:mod:`segclassics.engine.data_check`), the predictor (the config's test pipeline, see
:mod:`segclassics.engine.inference`), the semantic forward (``encode_decode``) and the benchmark
batch (:mod:`segclassics.engine.benchmark_inputs`).

``data_root=DIR`` sets ``data_root`` of every dataset of ``train_dataloader``,
``val_dataloader`` and ``test_dataloader`` (inside Concat/Repeat wrappers too) and moves the
evaluators' ``ann_file`` / ``image_root`` (mmdet's COCO metric reads the annotations itself)
from the config's ``data_root`` to ``DIR``.
"""

from __future__ import annotations

import copy
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ...errors import UserError
from ..config_kind import MMENGINE
from ..config_loader import (
    LoadedConfig,
    _check_mmengine_keys,
    _check_value,
    _current,
    _run_config,
    _whole_containers,
)
from ..inference import (
    Predictor,
    SemanticPrediction,
    _instances,
    _num_classes,
    _refuse_valid_unet_without_tiles,
    head_num_classes,
)
from .base import Backend, split_data_root

LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
EVALUATORS = ("val_evaluator", "test_evaluator")
EVALUATOR_PATH_KEYS = ("ann_file", "image_root")
SCOPES = ("mmseg", "mmdet")
TASKS = {"mmseg": "semantic", "mmdet": "instance"}


class MMEngineBackend(Backend):
    kind = MMENGINE

    # ------------------------------------------------------------------------- config
    def load(self, file: str, overrides: Sequence[str]):
        import argparse

        from mmengine.config import Config, DictAction

        from segclassics.openmmlab.config_prefix import enable_config_prefix

        enable_config_prefix()  # a user config's `_base_ = ['segclassics::...']`
        if file.endswith((".yaml", ".yml")):
            from segclassics.utils.reader import read_yaml

            read_yaml(file)  # a python tag is refused naming this file (mmengine reads a temporary copy)
        cfg = _run_config(Config.fromfile, file, "mmengine")
        scope = cfg.get("default_scope", None)
        if scope not in SCOPES:
            raise UserError(
                f"{file}: default_scope is {scope!r}; segclassics runs configs with default_scope 'mmseg' or 'mmdet'"
            )
        if cfg.get("custom_imports"):
            from mmengine.utils import import_modules_from_strings

            import_modules_from_strings(**cfg.custom_imports)
        data_root, overrides = split_data_root(overrides)
        if data_root is not None:
            self._move_data_root(cfg, data_root, file)
        if overrides:
            namespace = argparse.Namespace()
            DictAction(option_strings=[], dest="options")(None, namespace, overrides)
            _check_mmengine_keys(cfg, namespace.options, file)
            for key, value in namespace.options.items():
                _check_value(key, value, _current(cfg._cfg_dict, key), file)
            cfg.merge_from_dict(_whole_containers(cfg._cfg_dict, namespace.options))
        return cfg

    @staticmethod
    def _datasets(cfg):
        """``(config key, leaf dataset dict)`` of every dataloader (Concat/Repeat unwrapped)."""

        def leaves(node, key):
            if isinstance(node, (list, tuple)):
                for i, item in enumerate(node):
                    yield from leaves(item, f"{key}.{i}")
            elif hasattr(node, "get") and "datasets" in node:
                yield from leaves(node["datasets"], f"{key}.datasets")
            elif hasattr(node, "get") and "dataset" in node:
                yield from leaves(node["dataset"], f"{key}.dataset")
            elif hasattr(node, "get"):
                yield key, node

        for loader in LOADERS:
            if cfg.get(loader):
                yield from leaves(cfg[loader].get("dataset"), f"{loader}.dataset")

    @staticmethod
    def _evaluators(cfg):
        """``(config key, evaluator dict)`` of the val/test evaluators (lists unpacked)."""
        for name in EVALUATORS:
            node = cfg.get(name)
            items = list(enumerate(node)) if isinstance(node, (list, tuple)) else [(None, node)]
            for i, item in items:
                if hasattr(item, "get"):
                    yield (name if i is None else f"{name}.{i}"), item

    def _move_data_root(self, cfg, root: str, file: str) -> None:
        if not root:
            raise UserError(f"data_root= for {file}: give a folder, data_root=DIR")
        old = cfg.get("data_root", None)
        for _, ds in self._datasets(cfg):
            ds["data_root"] = root
        for key, evaluator in self._evaluators(cfg):
            for name in EVALUATOR_PATH_KEYS:
                path = evaluator.get(name)
                if not isinstance(path, str):
                    continue
                rest = _relative_to(path, old)
                if rest is None:
                    raise UserError(
                        f"data_root={root} for {file}: {key}.{name} ({path!r}) is not under the "
                        f"config's data_root ({old!r}); set it too: --cfg-options {key}.{name}=PATH"
                    )
                evaluator[name] = os.path.join(root, rest) if rest else root
        cfg["data_root"] = root

    def framework(self, cfg) -> str:
        return cfg.get("default_scope")

    def build_model(self, loaded: LoadedConfig, device: str) -> nn.Module:
        from mmengine.registry import MODELS, init_default_scope

        if "model" not in loaded.cfg:
            raise UserError(f"{loaded.file}: no `model` in the config")
        init_default_scope(loaded.cfg.default_scope)
        return MODELS.build(loaded.cfg.model).to(device)

    # ------------------------------------------------------------------------- runs
    def check_arguments(self, args) -> None:
        if getattr(args, "opts", None):
            raise UserError(
                f"unexpected arguments {args.opts}: mmengine configs take overrides as --cfg-options KEY=VALUE ..."
            )

    def add_sample_checks(self, cfg) -> int:
        from ..data_check import add_sample_checks

        return add_sample_checks(cfg)

    def prepare_run(self, cfg, config: str, loaders: Sequence[str]) -> None:
        from ..data_check import check_mmengine_class_counts, check_mmengine_data, check_mmengine_input_channels

        check_mmengine_data(cfg, loaders)
        check_mmengine_input_channels(cfg, config, loaders)
        if "train_dataloader" in loaders:
            check_mmengine_class_counts(cfg, config)

    def train(self, args) -> dict:
        from .. import mmengine_runner

        return mmengine_runner.train(args)

    def test(self, args) -> dict:
        from .. import mmengine_runner

        return mmengine_runner.test(args)

    # ------------------------------------------------------------------------- inference
    def task(self, loaded: LoadedConfig, model: nn.Module) -> str:
        return TASKS[self.framework(loaded.cfg)]

    def num_classes(self, model: nn.Module) -> Optional[int]:
        return _num_classes(model)

    def predictor(self, loaded, checkpoint, device, trusted, amp):
        return MMEnginePredictor(loaded, checkpoint, device, trusted, amp)

    def overlap_tile_fix(self) -> str:
        return "model.type='OverlapTileEncoderDecoder' with model.test_cfg.mode='overlap_tile' and a tile_size"

    def semantic_forward(self, loaded, model, border):
        from ..semantic_forward import SemanticForward, _flat

        pre = model.data_preprocessor
        if getattr(pre, "_enable_normalize", False):
            mean, std = _flat(pre.mean), _flat(pre.std)
        else:  # no normalisation configured: the network sees 0..255 values
            channels = model.backbone.in_channels if hasattr(model.backbone, "in_channels") else 3
            mean, std = [0.0] * channels, [1.0] * channels
        net = _MMSegValidUNet(model) if border else _MMSegEncodeDecode(model)
        order = "L" if len(mean) == 1 else "BGR"
        return SemanticForward(net, mean, std, order, bool(getattr(pre, "channel_conversion", False)), border)

    # ------------------------------------------------------------------------- benchmark
    def benchmark_model(self, loaded, model, config):
        from ..benchmark_inputs import BuiltModel

        if TASKS[self.framework(loaded.cfg)] == "semantic":
            nc = head_num_classes(model, ("decode_head",)) or 2
            return BuiltModel(model, "mmseg", "semantic", nc, config)
        # a two-stage detector's box head (a cascade's last), else a one-stage detector's
        heads = ("roi_head.bbox_head",) if getattr(model, "roi_head", None) is not None else ("bbox_head",)
        return BuiltModel(model, "mmdet", "instance", head_num_classes(model, heads) or 1, config)

    def benchmark_inputs(self, built, batch, shape, device):
        from ..benchmark_inputs import INPUT_BUILDERS

        return INPUT_BUILDERS[built.framework](built, batch, shape, device)

    def forward_fns(self, built, data):
        model = built.model

        def infer():
            return model(**data["test"], mode="predict")

        def loss():
            losses = model(**data["train"], mode="loss")
            total, _ = model.parse_losses(losses)
            return total

        return infer, loss


def _relative_to(path: str, root) -> Optional[str]:
    """``path`` below the folder ``root`` (``''`` for ``root`` itself), or None when it is not under it."""
    if not root:
        return None
    base = root.rstrip("/")
    if path.rstrip("/") == base:
        return ""
    return path[len(base) + 1 :] if path.startswith(base + "/") else None


# ----------------------------------------------------------------------------- semantic forward


class _MMSegEncodeDecode(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # img_shape as a torch.Size: the decode head resizes its logits to exactly the input size
        return self.model.encode_decode(x, [dict(img_shape=x.shape[2:])])


class _MMSegValidUNet(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # what overlap-tile inference runs on each tile (OverlapTileEncoderDecoder.inference)
        return self.model.decode_head.forward(self.model.extract_feat(x))


# ----------------------------------------------------------------------------- predictor


def _ends(transform: dict, name: str) -> bool:
    kind = transform.get("type", "")
    return isinstance(kind, str) and kind.split(".")[-1].endswith(name)


class MMEnginePredictor(Predictor):
    """mmseg (semantic) and mmdet (instance) configs."""

    def __init__(self, loaded: LoadedConfig, checkpoint: str, device: str, trusted: bool, amp: bool):
        super().__init__(loaded, device, amp)
        from mmengine.dataset import Compose

        self.model = loaded.backend.build_model(loaded, device)
        self.task = loaded.backend.task(loaded, self.model)
        meta = self.load_weights(checkpoint, trusted)
        self.num_classes = loaded.backend.num_classes(self.model)
        if self.task == "semantic":
            test_cfg = getattr(self.model, "test_cfg", None) or {}
            _refuse_valid_unet_without_tiles(loaded, self.model, test_cfg.get("mode") == "overlap_tile")
        dataset_meta = meta.get("dataset_meta") or self._config_dataset_meta()
        self.classes = tuple(dataset_meta.get("classes") or ())
        self.palette = [tuple(c) for c in dataset_meta.get("palette") or ()]
        self.model.dataset_meta = {"classes": self.classes, "palette": self.palette}
        pipeline, self.image_mode = self._pipeline()
        self.pipeline = Compose(pipeline)

    def _config_dataset_meta(self) -> dict:
        """``metainfo`` of the config's test dataset over its class's ``METAINFO`` (no data read)."""
        import importlib

        datasets = importlib.import_module(f"{self.loaded.framework}.registry").DATASETS
        dataset = self.loaded.cfg.get("test_dataloader", {}).get("dataset", {})
        cls = datasets.get(dataset.get("type")) if isinstance(dataset.get("type"), str) else None
        meta = dict(getattr(cls, "METAINFO", {}) or {})
        meta.update(dataset.get("metainfo") or {})
        return meta

    def _pipeline(self):
        cfg = self.loaded.cfg
        dataset = cfg.get("test_dataloader", {}).get("dataset", {})
        pipeline = dataset.get("pipeline") or cfg.get("test_pipeline")
        if not pipeline:
            raise UserError(
                f"{self.loaded.file}: no test pipeline (test_dataloader.dataset.pipeline or "
                f"test_pipeline); infer.py prepares images with it"
            )
        pipeline = [dict(copy.deepcopy(t)) for t in pipeline if not _ends(t, "LoadAnnotations")]
        loaders = [i for i, t in enumerate(pipeline) if _ends(t, "LoadImageFromFile")]
        if not loaders:
            raise UserError(
                f"{self.loaded.file}: the test pipeline has no LoadImageFromFile transform; infer.py "
                f"feeds images by replacing it with LoadImageFromNDArray"
            )
        loader = pipeline[loaders[0]]
        color = loader.get("color_type", "color")
        mean = self.loaded.cfg.model.get("data_preprocessor", {}).get("mean")
        mode = "L" if color == "grayscale" or (color != "color" and mean is not None and len(mean) == 1) else "RGB"
        pipeline[loaders[0]] = dict(
            type=f"{self.loaded.framework}.LoadImageFromNDArray", to_float32=loader.get("to_float32", False)
        )
        return pipeline, mode

    @torch.no_grad()
    def predict(self, images: Sequence[np.ndarray]) -> list:
        results: List[Optional[object]] = [None] * len(images)
        # mmseg's data preprocessor stacks a test batch without padding: one forward per image size
        groups: Dict[tuple, List[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(image.shape if self.task == "semantic" else (), []).append(i)
        for indices in groups.values():
            data: Dict[str, list] = {"inputs": [], "data_samples": []}
            for i in indices:
                image = images[i] if images[i].ndim == 2 else np.ascontiguousarray(images[i][..., ::-1])  # RGB -> BGR
                packed = self.pipeline(dict(img=image, img_id=i))
                data["inputs"].append(packed["inputs"])
                data["data_samples"].append(packed["data_samples"])
            with self.autocast():
                samples = self.model.test_step(data)
            for i, sample in zip(indices, samples):
                results[i] = self._convert(sample, images[i].shape[:2])
        return results

    def _convert(self, sample, shape):
        if self.task == "semantic":
            return SemanticPrediction(labels=sample.pred_sem_seg.data[0].cpu().numpy().astype(np.int64))
        pred = sample.pred_instances
        return _instances(pred.bboxes, pred.scores, pred.labels, pred.get("masks"), shape)
