"""detectron2's ``DetectionCheckpointer`` reading checkpoints only as plain data.

``DetectionCheckpointer`` reads ``.pkl`` model-zoo files with ``pickle.load``, which runs whatever
code a crafted pickle names. Once this module is imported (with ``segclassics.detectron2``), every
``DetectionCheckpointer`` -- detectron2's own in ``DefaultPredictor`` and ``DefaultTrainer`` too --
reads every file through
:func:`segclassics.utils.checkpoint.load_checkpoint_file` (torch's weights-only unpickler, or a
restricted unpickler for raw ``.pkl`` pickles that builds only containers and numpy arrays) and
keeps detectron2's handling of what it read (model-zoo ``.pkl`` layouts, Caffe2 name matching,
``?matching_heuristics=True``). :class:`SafeDetectionCheckpointer` adds the opt-in for legacy files
(``trusted=True``), the exact and starting-point checks, and atomic saves.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import torch
from detectron2.checkpoint import DetectionCheckpointer

from segclassics.utils.checkpoint import check_shares_weights, check_state_dict, load_checkpoint_file, state_dict_of
from segclassics.utils.non_finite import NonFiniteWeightsError, first_non_finite
from segclassics.utils.reader import UnsafeCheckpointError, download_failed
from segclassics.utils.writer import open_for_write


class SafeDetectionCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` whose reads go through ``load_checkpoint_file``.

    Args:
        model, save_dir, save_to_disk, **checkpointables: as ``DetectionCheckpointer``.
        trusted: unpickle fully (only for files whose origin you trust).
    """

    def __init__(self, model, save_dir: str = "", *, trusted: bool = False, **kwargs):
        super().__init__(model, save_dir, **kwargs)
        self.trusted = trusted
        self._exact = False
        self._starting_point = None

    def load_exact(self, path: str, checkpointables=None) -> dict:
        """``load``, refusing a file whose model weights do not match the model key for key and
        shape (``CheckpointMismatchError`` naming the keys) before anything is loaded: resuming or
        testing from a checkpoint of another model is a mistake, not a fine-tuning start. The file
        is read once."""
        self._exact = path
        try:
            return self.load(path, checkpointables)
        finally:
            self._exact = False

    def load_starting_point(self, path: str) -> dict:
        """``load`` of the weights a training starts from (``init_checkpoint`` / ``MODEL.WEIGHTS``):
        some keys may differ (a new head), but a file whose weights none of the model's take
        (another network's or framework's file) is refused instead of training from random
        weights."""
        self._starting_point = path
        try:
            return self.load(path, checkpointables=[])
        finally:
            self._starting_point = None

    def _load_model(self, checkpoint: dict):
        if self._exact:  # fvcore wraps a file without a "model" key whole: unwrap as read_state_dict does
            check_state_dict(self.model, state_dict_of(checkpoint["model"]), source=self._exact)
        file_keys = list(checkpoint.get("model") or {})  # fvcore pops "model" while it loads
        incompatible = super()._load_model(checkpoint)
        if self._starting_point is not None:
            own = set(self.model.state_dict())
            unused = set(incompatible.missing_keys) | {k for k, *_ in incompatible.incorrect_shapes}
            if own and own <= unused:
                check_shares_weights(self.model, {}, self._starting_point, "init_checkpoint", file_keys=file_keys)
        return incompatible

    def save(self, name: str, **kwargs) -> None:
        """fvcore's ``Checkpointer.save`` (model + checkpointables + ``kwargs`` to
        ``<save_dir>/<name>.pth``, then ``last_checkpoint``), except that a model whose weights
        became infinite or NaN is not saved (``NonFiniteWeightsError``: the newest checkpoint stays
        usable), and that both files are written atomically (temporary file + rename): a kill
        never leaves a partial file under a checkpoint's name."""
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        bad = first_non_finite(data["model"])
        if bad is not None:
            raise NonFiniteWeightsError(kwargs.get("iteration", "?"), bad)
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()}, **kwargs)
        path = os.path.join(self.save_dir, f"{name}.pth")
        self.logger.info("Saving checkpoint to %s", path)
        with open_for_write(path) as f:
            torch.save(data, f)
        self.tag_last_checkpoint(os.path.basename(path))

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        with open_for_write(os.path.join(self.save_dir, "last_checkpoint"), "w") as f:
            f.write(last_filename_basename)

    @staticmethod
    def _model_zoo_pickle(data: dict) -> dict:
        """What ``DetectionCheckpointer`` makes of a ``.pkl``: detectron2 model-zoo files carry
        ``model`` + ``__author__``; Detectron (Caffe2) files carry blob arrays, matched by name."""
        if "model" in data and "__author__" in data:
            return data
        blobs = data.get("blobs", data)
        blobs = {k: v for k, v in blobs.items() if not k.endswith("_momentum")}
        return {"model": blobs, "__author__": "Caffe2", "matching_heuristics": True}


# ----------------------------------------------------------------------------- every DetectionCheckpointer

_detectron2_load_file = DetectionCheckpointer._load_file


def _load_file(self, filename: str):
    """What every ``DetectionCheckpointer`` (detectron2's own too: ``DefaultPredictor``,
    ``DefaultTrainer``) reads a file with once this module is imported: ``.pkl`` files through the
    reader instead of ``pickle.load``, torch files through :func:`_torch_load`; an mmengine file's
    weights rather than its whole training state."""
    trusted = getattr(self, "trusted", False)
    if filename.endswith(".pkl"):
        return SafeDetectionCheckpointer._model_zoo_pickle(load_checkpoint_file(filename, trusted=trusted))
    loaded = _detectron2_load_file(self, filename)  # .pth via _torch_load; .pyth via torch.load (weights-only)
    model = loaded.get("model")
    if isinstance(model, dict) and "model" not in model and isinstance(model.get("state_dict"), dict):
        # an mmengine file (state_dict + message hub + meta): its weights, not its training state
        loaded["model"] = state_dict_of(model, filename)
    return loaded


def _torch_load(self, f):
    """detectron2 >= 0.7 reads ``.pth`` files here (``Checkpointer._load_file``)."""
    return load_checkpoint_file(f, trusted=getattr(self, "trusted", False))


def _load(self, path, *args, **kwargs):
    """detectron2's ``load``, with a checkpoint address (``https://``, ``detectron2://``) fetched
    first through detectron2's own ``PathManager`` (into its cache, where ``load`` then finds it),
    so that an address that cannot be fetched is one line naming it, not urllib's traceback."""
    if not (isinstance(path, str) and "://" in path and not os.path.isfile(path)):
        return _detectron2_load(self, path, *args, **kwargs)
    address = urlparse(path)._replace(query="").geturl()  # ?matching_heuristics=... is load's
    try:
        local = self.path_manager.get_local_path(address)
    except Exception as exc:  # noqa: BLE001 - network and HTTP failures become one line
        raise download_failed(path, exc) from None
    try:
        return _detectron2_load(self, path, *args, **kwargs)
    except UnsafeCheckpointError as exc:  # name the address the user gave, not the cache's copy
        raise UnsafeCheckpointError(str(exc).replace(local, address)) from None


_detectron2_load = DetectionCheckpointer.load
DetectionCheckpointer.load = _load
DetectionCheckpointer._load_file = _load_file
DetectionCheckpointer._torch_load = _torch_load
