"""Predict with a trained checkpoint of any config we run, behind one interface.

``build_predictor(config, checkpoint, ...)`` loads the config (:mod:`.config_loader`), builds
its model as its framework does, reads the checkpoint as plain data (torch ``weights_only``;
``trusted=True`` is the explicit opt-in for legacy pickles), checks its keys and shapes against
the model, and returns a :class:`Predictor`: ``predict(images)`` maps RGB (or, for grey models,
single-channel) uint8 images of any size to label maps or instances at the images' own size.

Each framework prepares the input exactly as its test loader does, only the file reading is
replaced:

* mmseg / mmdet: the config's test pipeline (``test_dataloader.dataset.pipeline``) with
  ``LoadImageFromFile`` replaced by ``LoadImageFromNDArray`` (as mmseg's ``inference_model``
  and mmdet's ``inference_detector`` do) and the annotation loading removed; the image is
  given in OpenCV's B, G, R order (what ``LoadImageFromFile`` yields; the data preprocessor's
  ``bgr_to_rgb`` turns it back); then ``model.test_step``.
* detectron2: the test mapper's augmentations (yaml: ``INPUT.MIN/MAX_SIZE_TEST``, LazyConfig:
  ``dataloader.test.mapper.augmentations``) and image format, then ``model(inputs)`` with
  ``height``/``width`` so the outputs come back at the image size.

Valid-convolution UNets predict with the overlap-tile strategy (Ronneberger et al. 2015, Fig. 2:
``OverlapTileEncoderDecoder`` with ``test_cfg.mode='overlap_tile'``,
``OverlapTileSemanticSegmentor``), so any image size gets a full-size prediction; such a model
configured without it is refused rather than predicting on a resized, shifted map.
"""
from __future__ import annotations

import contextlib
import copy
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from segclassics.utils.checkpoint import load_checkpoint_file, load_state_dict_checked, plain_meta, state_dict_of

from ..errors import MissingFileError
from .config_kind import D2_YAML, MMENGINE
from .cpu_precision import require_cpu_bf16
from .config_loader import LoadedConfig, build_model, load_config
from .errors import UserError
from .semantic_forward import valid_unet_border


@dataclass
class SemanticPrediction:
    """``labels``: ``(H, W)`` int64 class indices at the input image's size."""
    labels: np.ndarray


@dataclass
class InstancePrediction:
    """Instances at the input image's size: ``boxes`` ``(N, 4)`` float32 x1, y1, x2, y2 in pixels;
    ``scores`` ``(N,)`` float32; ``labels`` ``(N,)`` int64 class indices; ``masks`` ``(N, H, W)``
    bool (``(0, H, W)`` for a detector without a mask head)."""
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    masks: np.ndarray


class Predictor:
    """Common interface (see :func:`build_predictor`).

    Attributes:
        task: ``'semantic'`` or ``'instance'``.
        image_mode: ``'RGB'`` (``(H, W, 3)`` images in R, G, B order) or ``'L'`` (``(H, W)``).
        classes: class names (from the checkpoint's ``dataset_meta``, else the config's dataset;
            may be empty when neither names them).
        num_classes: the number of classes the model predicts (None where the model does not
            say: detectron2 semantic heads).
        palette: RGB triples per class, same sources (may be shorter than ``classes`` or empty).
        model: the framework's model, in eval mode.
    """
    task: str
    image_mode: str
    num_classes: Optional[int]
    classes: tuple
    palette: list
    model: torch.nn.Module

    def __init__(self, loaded: LoadedConfig, device: str, amp: bool):
        self.loaded, self.device, self.amp = loaded, torch.device(device), amp

    def predict(self, images: Sequence[np.ndarray]) -> list:
        """Predictions for a batch of images (each its own size); one per image, in order."""
        raise NotImplementedError

    def autocast(self):
        """``--amp``: bf16 autocast on CPU, fp16 on CUDA; otherwise full precision."""
        if not self.amp:
            return contextlib.nullcontext()
        if self.device.type != "cuda":
            require_cpu_bf16("--amp")
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def load_weights(self, checkpoint: str, trusted: bool) -> dict:
        """Load ``checkpoint`` into ``self.model`` after a strict key/shape check; returns its
        plain metadata."""
        data = load_checkpoint_file(checkpoint, trusted=trusted)
        load_state_dict_checked(self.model, state_dict_of(data, checkpoint), source=checkpoint)
        self.model.eval()
        return plain_meta(data)


def _num_classes(model) -> Optional[int]:
    """Classes of an mmseg decode head, an mmdet RoI head's box head or a detectron2 RoI head."""
    for path in ("decode_head.num_classes", "roi_head.bbox_head.num_classes", "roi_heads.num_classes"):
        obj = model
        for name in path.split("."):
            obj = getattr(obj, name, None)
        if isinstance(obj, int):
            return obj
    return None


def _instances(boxes, scores, labels, masks, shape) -> InstancePrediction:
    masks = masks.cpu().numpy().astype(bool) if masks is not None else np.zeros((0, *shape), dtype=bool)
    return InstancePrediction(boxes=boxes.float().cpu().numpy().reshape(-1, 4), scores=scores.float().cpu().numpy(),
                              labels=labels.cpu().numpy().astype(np.int64), masks=masks)


def _refuse_valid_unet_without_tiles(loaded: LoadedConfig, model, overlap_tile: bool) -> None:
    """A valid-convolution UNet outputs less than its input; without overlap-tile inference its
    map would be stretched back to the image, shifted by the lost border."""
    if valid_unet_border(model) and not overlap_tile:
        fix = ("model.type='OverlapTileEncoderDecoder' with model.test_cfg.mode='overlap_tile' and a tile_size"
               if loaded.kind == MMENGINE else "the OverlapTileSemanticSegmentor meta-architecture")
        raise UserError(f"{loaded.file}: this UNet has valid (unpadded) convolutions, so its output is smaller than "
                        f"its input; predicting needs overlap-tile inference: use {fix} (see "
                        f"configs/unet/unet_valid_isbi2012.py)")


# ----------------------------------------------------------------------------- mmseg / mmdet

def _ends(transform: dict, name: str) -> bool:
    kind = transform.get("type", "")
    return isinstance(kind, str) and kind.split(".")[-1].endswith(name)


class MMEnginePredictor(Predictor):
    """mmseg (semantic) and mmdet (instance) configs."""

    def __init__(self, loaded: LoadedConfig, checkpoint: str, device: str, trusted: bool, amp: bool):
        super().__init__(loaded, device, amp)
        from mmengine.dataset import Compose
        self.task = "instance" if loaded.framework == "mmdet" else "semantic"
        self.model = build_model(loaded, device)
        meta = self.load_weights(checkpoint, trusted)
        self.num_classes = _num_classes(self.model)
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
            raise UserError(f"{self.loaded.file}: no test pipeline (test_dataloader.dataset.pipeline or "
                            f"test_pipeline); infer.py prepares images with it")
        pipeline = [dict(copy.deepcopy(t)) for t in pipeline if not _ends(t, "LoadAnnotations")]
        loaders = [i for i, t in enumerate(pipeline) if _ends(t, "LoadImageFromFile")]
        if not loaders:
            raise UserError(f"{self.loaded.file}: the test pipeline has no LoadImageFromFile transform; infer.py "
                            f"feeds images by replacing it with LoadImageFromNDArray")
        loader = pipeline[loaders[0]]
        color = loader.get("color_type", "color")
        mean = self.loaded.cfg.model.get("data_preprocessor", {}).get("mean")
        mode = "L" if color == "grayscale" or (color != "color" and mean is not None and len(mean) == 1) else "RGB"
        pipeline[loaders[0]] = dict(type=f"{self.loaded.framework}.LoadImageFromNDArray",
                                    to_float32=loader.get("to_float32", False))
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


# ----------------------------------------------------------------------------- detectron2

class Detectron2Predictor(Predictor):
    """detectron2 LazyConfigs and yaml configs: ``SemanticSegmentor`` (and subclasses) and
    ``GeneralizedRCNN``."""

    def __init__(self, loaded: LoadedConfig, checkpoint: str, device: str, trusted: bool, amp: bool):
        super().__init__(loaded, device, amp)
        import segclassics.detectron2  # noqa: F401  (our parts and default datasets)
        from detectron2.modeling import GeneralizedRCNN, SemanticSegmentor

        from segclassics.detectron2.datasets import classes_for_task
        from segclassics.detectron2.overlap_tile_segmentor import OverlapTileSemanticSegmentor
        self.model = build_model(loaded, device)
        if isinstance(self.model, SemanticSegmentor):
            self.task = "semantic"
            _refuse_valid_unet_without_tiles(loaded, self.model,
                                             isinstance(self.model, OverlapTileSemanticSegmentor))
        elif isinstance(self.model, GeneralizedRCNN):
            self.task = "instance"
        else:
            raise UserError(f"{loaded.file}: infer.py predicts with semantic segmentors (SemanticSegmentor) and "
                            f"R-CNN detectors (GeneralizedRCNN); this config builds {type(self.model).__name__}")
        meta = self.load_weights(checkpoint, trusted)
        self.num_classes = _num_classes(self.model)
        self.augmentations, image_format = self._test_input()
        self.image_format = image_format
        self.image_mode = "L" if image_format == "L" else "RGB"
        self.classes, self.palette = classes_for_task(meta.get("dataset_meta") or self._catalog_meta(), self.task)

    def _test_input(self):
        """(augmentations, image format) of the config's test mapper."""
        import detectron2.data.transforms as T
        cfg = self.loaded.cfg
        if self.loaded.kind == D2_YAML:
            from detectron2.data.detection_utils import build_augmentation
            return T.AugmentationList(build_augmentation(cfg, is_train=False)), cfg.INPUT.FORMAT
        from detectron2.config import instantiate
        mapper = cfg.get("dataloader", {}).get("test", {}).get("mapper", {})
        augmentations = instantiate(mapper.get("augmentations", []))
        image_format = mapper.get("image_format") or getattr(self.model, "input_format", None) or "RGB"
        return T.AugmentationList(list(augmentations)), image_format

    def _catalog_meta(self) -> dict:
        """Classes and colours registered for the config's test dataset, if it is registered."""
        from detectron2.data import DatasetCatalog

        from segclassics.detectron2.datasets import dataset_meta_of
        cfg = self.loaded.cfg
        if self.loaded.kind == D2_YAML:
            names = list(cfg.DATASETS.TEST) or list(cfg.DATASETS.TRAIN)
        else:
            dataset = cfg.get("dataloader", {}).get("test", {}).get("dataset", {})
            names = dataset.get("names", dataset.get("name"))
            names = [names] if isinstance(names, str) else list(names or [])
        names = [n for n in names if n in DatasetCatalog.list()]
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
                results.append(_instances(inst.pred_boxes.tensor, inst.scores, inst.pred_classes,
                                          inst.pred_masks if inst.has("pred_masks") else None, image.shape[:2]))
        return results


# ----------------------------------------------------------------------------- entry point

def resolve_device(device: Optional[str]) -> str:
    """``None`` -> ``'cuda'`` when available, else ``'cpu'``; ``cpu``, ``cuda`` and ``cuda:N`` of a
    present GPU are taken, anything else is refused in one line."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise UserError(f"--device {device!r}: not a device infer.py runs on; use cpu, cuda or cuda:N")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise UserError(f"--device {device}: no CUDA device is available here; use --device cpu")
        if parsed.index is not None and parsed.index >= count:
            raise UserError(f"--device {device}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}")
    return device


def build_predictor(config: str, checkpoint: str, device: Optional[str] = None, overrides: Sequence[str] = (),
                    trusted: bool = False, amp: bool = False) -> Predictor:
    """The :class:`Predictor` for ``config`` (any kind ``load_config`` reads) with the weights of
    ``checkpoint`` (a training checkpoint, ``last_weights.pth`` or a published file).

    Raises ``UserError`` (bad config, device, model kind), ``FileNotFoundError``,
    ``UnsafeCheckpointError`` (a pickle that would run code, unless ``trusted``) and
    ``CheckpointMismatchError`` (weights of another model).
    """
    device = resolve_device(device)
    loaded = load_config(config, overrides)
    if not os.path.isfile(checkpoint):
        raise MissingFileError(f"checkpoint not found: {checkpoint!r}")
    cls = MMEnginePredictor if loaded.kind == MMENGINE else Detectron2Predictor
    return cls(loaded, checkpoint, device, trusted, amp)
