"""The ``Backend`` protocol: everything segclassics asks of a framework, in one place.

``engine/`` and ``deploy/`` keep the framework-neutral flow (parse the command line, load a
config, build, measure, export, report) and ask the backend of the config for each
framework-specific step. A backend is chosen once, from the config's kind
(:func:`segclassics.engine.backends.backend_for`); no module outside ``engine/backends/``
branches on the kind or the framework.

Implementations: :class:`~.mmengine.MMEngineBackend` (mmseg and mmdet configs run by mmengine)
and :class:`~.detectron2.Detectron2LazyBackend` / :class:`~.detectron2.Detectron2YamlBackend`
(detectron2 LazyConfigs and yaml configs).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

import torch

# ``data_root=DIR``: the one override that moves every dataset path of a config (each backend's
# ``load`` applies it; see docs/getting_started.md, "Data elsewhere").
DATA_ROOT_KEY = "data_root"


def split_data_root(overrides: Sequence[str]) -> Tuple[Optional[str], list]:
    """``(DIR of the last data_root=DIR or None, the other overrides in order)``."""
    root, rest = None, []
    for item in overrides:
        key, _, value = item.partition("=")
        if key.strip() == DATA_ROOT_KEY:
            root = value
        else:
            rest.append(item)
    return root, rest


class Backend:
    """What a framework provides. ``kind`` is the config kind it runs
    (:mod:`segclassics.engine.config_kind`)."""

    kind: str

    # --- config and model ---------------------------------------------------------------
    def load(self, file: str, overrides: Sequence[str]) -> Any:
        """The framework's config object for ``file`` with ``overrides`` (``KEY=VALUE``) applied,
        ``data_root=DIR`` included (every dataloader's and evaluator's dataset paths move)."""
        raise NotImplementedError

    def framework(self, cfg: Any) -> str:
        """``'mmseg'``, ``'mmdet'`` or ``'detectron2'``."""
        raise NotImplementedError

    def build_model(self, loaded, device: str) -> torch.nn.Module:
        """The config's model as its framework builds it, on ``device``, in training mode."""
        raise NotImplementedError

    # --- runs -----------------------------------------------------------------------------
    def check_arguments(self, args) -> None:
        """Refuse command-line arguments this framework does not take (tools/train.py, test.py)."""

    def add_sample_checks(self, cfg: Any) -> int:
        """Swap the config's loaders for the checked ones (every sample's sizes, label values and
        decoding checked as it is read); returns how many were swapped."""
        return 0

    def prepare_run(self, cfg: Any, config: str, loaders: Sequence[str]) -> None:
        """The data checks before a run that reads ``loaders`` (missing datasets, empty splits,
        heads' class counts against the training datasets' classes)."""
        raise NotImplementedError

    def train(self, args) -> dict:
        raise NotImplementedError

    def forget_process_groups(self) -> None:
        """Drop the framework's own references to the job's process groups (module globals,
        caches) so that destroying the groups at the end of a distributed run frees them while
        the interpreter is alive, not during its shutdown."""

    def test(self, args) -> dict:
        """Evaluate ``args.checkpoint``; returns the metrics."""
        raise NotImplementedError

    # --- inference, export, benchmark ------------------------------------------------------
    def predictor(self, loaded, checkpoint: str, device: str, trusted: bool, amp: bool):
        """The :class:`segclassics.engine.inference.Predictor` of the config with ``checkpoint``."""
        raise NotImplementedError

    def semantic_forward(self, loaded, model: torch.nn.Module, border: int):
        """The :class:`segclassics.engine.semantic_forward.SemanticForward` of a built semantic model."""
        raise NotImplementedError

    def overlap_tile_fix(self) -> str:
        """How a config of this framework asks for overlap-tile inference (said when it is missing)."""
        raise NotImplementedError

    def is_instance_export(self, model: torch.nn.Module) -> bool:
        """Whether ``model`` exports as an instance detector (detectron2 Mask R-CNN) rather than a
        semantic network."""
        return False

    def task(self, loaded, model: torch.nn.Module) -> str:
        """``'semantic'`` or ``'instance'``: what the predictor returns for this model (a model
        that is neither is refused with a ``UserError``)."""
        raise NotImplementedError

    def num_classes(self, model: torch.nn.Module) -> Optional[int]:
        """Classes the model predicts (None where its heads do not say)."""
        raise NotImplementedError

    def benchmark_model(self, loaded, model: torch.nn.Module, config: str):
        """The :class:`segclassics.engine.benchmark_inputs.BuiltModel` of a built model: its
        framework, its task (:meth:`task`'s words: 'semantic', 'instance', or
        'semantic+instance' for a model with both heads) and class count."""
        raise NotImplementedError

    def benchmark_inputs(self, built, batch: int, shape: Sequence[int], device: str) -> dict:
        """A synthetic batch in the framework's format: ``{'train': ..., 'test': ...}``."""
        raise NotImplementedError

    def forward_fns(self, built, data: dict) -> Tuple[Callable[[], Any], Callable[[], torch.Tensor]]:
        """``(inference, total loss)`` closures over ``data``."""
        raise NotImplementedError
