"""Predict with a trained checkpoint of any config we run, behind one interface.

``build_predictor(config, checkpoint, ...)`` loads the config (:mod:`.config_loader`), builds
its model as its framework does, reads the checkpoint as plain data (torch ``weights_only``;
``trusted=True`` is the explicit opt-in for legacy pickles), checks its keys and shapes against
the model, and returns a :class:`Predictor`: ``predict(images)`` maps RGB (or, for grey models,
single-channel) uint8 images of any size to label maps or instances at the images' own size.

Each framework prepares the input exactly as its test loader does, only the file reading is
replaced (the predictor classes live with their backends, :mod:`.backends.mmengine` and
:mod:`.backends.detectron2`):

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

import numbers
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from segclassics.utils.amp import amp_autocast
from segclassics.utils.checkpoint import load_checkpoint_file, load_state_dict_checked, plain_meta, state_dict_of
from segclassics.utils.reader import require_checkpoint

from ..errors import UserError
from .config_loader import LoadedConfig, load_config
from .cpu_precision import require_cpu_bf16
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
        if self.amp and self.device.type != "cuda":
            require_cpu_bf16("--amp")
        return amp_autocast(self.device.type, enabled=bool(self.amp))

    def load_weights(self, checkpoint: str, trusted: bool) -> dict:
        """Load ``checkpoint`` into ``self.model`` after a strict key/shape check; returns its
        plain metadata."""
        data = load_checkpoint_file(checkpoint, trusted=trusted)
        load_state_dict_checked(self.model, state_dict_of(data, checkpoint), source=checkpoint)
        self.model.eval()
        return plain_meta(data)


#: the heads whose ``num_classes`` :func:`_num_classes` reads, in order
PREDICTOR_HEADS = ("decode_head", "roi_head.bbox_head", "roi_heads")


def head_num_classes(model, heads: Sequence[str]) -> Optional[int]:
    """``num_classes`` of the first of ``heads`` (dotted attribute paths, e.g. mmseg's
    ``decode_head``, detectron2's ``sem_seg_head`` / ``roi_heads``, mmdet's ``roi_head.bbox_head``)
    that ``model`` has with an integer class count; for a list of heads (a cascade's box heads)
    the last one's. None when no head says. The one place class counts are read from models."""
    for path in heads:
        obj = model
        for name in path.split("."):
            obj = getattr(obj, name, None)
        if isinstance(obj, (list, tuple, torch.nn.ModuleList)) and len(obj):
            obj = obj[-1]
        count = getattr(obj, "num_classes", None)
        if isinstance(count, numbers.Integral) and not isinstance(count, bool):
            return int(count)
    return None


def _num_classes(model) -> Optional[int]:
    """Classes of an mmseg decode head, an mmdet RoI head's box head or a detectron2 RoI head."""
    return head_num_classes(model, PREDICTOR_HEADS)


def _instances(boxes, scores, labels, masks, shape) -> InstancePrediction:
    masks = masks.cpu().numpy().astype(bool) if masks is not None else np.zeros((0, *shape), dtype=bool)
    return InstancePrediction(
        boxes=boxes.float().cpu().numpy().reshape(-1, 4),
        scores=scores.float().cpu().numpy(),
        labels=labels.cpu().numpy().astype(np.int64),
        masks=masks,
    )


def _refuse_valid_unet_without_tiles(loaded: LoadedConfig, model, overlap_tile: bool) -> None:
    """A valid-convolution UNet outputs less than its input; without overlap-tile inference its
    map would be stretched back to the image, shifted by the lost border."""
    if valid_unet_border(model) and not overlap_tile:
        fix = loaded.backend.overlap_tile_fix()
        raise UserError(
            f"{loaded.file}: this UNet has valid (unpadded) convolutions, so its output is smaller than "
            f"its input; predicting needs overlap-tile inference: use {fix} (see "
            f"configs/unet/unet_valid_isbi2012.py)"
        )


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


def build_predictor(
    config: str,
    checkpoint: str,
    device: Optional[str] = None,
    overrides: Sequence[str] = (),
    trusted: bool = False,
    amp: bool = False,
) -> Predictor:
    """The :class:`Predictor` for ``config`` (any kind ``load_config`` reads) with the weights of
    ``checkpoint`` (a training checkpoint, ``last_weights.pth`` or a published file).

    Raises ``UserError`` (bad config, device, model kind), ``FileNotFoundError``,
    ``UnsafeCheckpointError`` (a pickle that would run code, unless ``trusted``) and
    ``CheckpointMismatchError`` (weights of another model).
    """
    device = resolve_device(device)
    loaded = load_config(config, overrides)
    require_checkpoint(checkpoint)
    return loaded.backend.predictor(loaded, checkpoint, device, trusted, amp)
