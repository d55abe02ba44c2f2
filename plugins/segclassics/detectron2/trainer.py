"""``Trainer``: detectron2's ``DefaultTrainer`` for yaml configs with segclassics' data checks and
the evaluator each dataset names.

detectron2's ``DefaultTrainer`` leaves ``build_evaluator`` to the user (its ``tools/train_net.py``
picks one per ``evaluator_type``); this one picks ``SemSegEvaluator`` for ``evaluator_type:
'sem_seg'`` datasets (synthetic shapes, CamVid, VOC) and ``COCOEvaluator`` (bbox + segm) otherwise
(the Mask R-CNN datasets). Samples go through ``CheckedDatasetMapper`` (sizes, label values and
decoding checked per sample, one line naming the file on bad data).
"""

from __future__ import annotations

import weakref

from detectron2.data import MetadataCatalog, build_detection_test_loader, build_detection_train_loader
from detectron2.engine import DefaultTrainer
from detectron2.evaluation import COCOEvaluator, SemSegEvaluator

from segclassics.detectron2.checked_dataset_mapper import CheckedDatasetMapper
from segclassics.detectron2.checkpointer import SafeDetectionCheckpointer
from segclassics.utils.distributed_buffers import broadcast_buffers

__all__ = ["Trainer"]


class Trainer(DefaultTrainer):
    """``DefaultTrainer`` with checked samples, an evaluator chosen by the dataset's ``evaluator_type``
    and checked checkpoint files.

    Args:
        cfg: a frozen detectron2 yaml config.
        trusted: unpickle ``MODEL.WEIGHTS`` and resumed checkpoints fully (only for files whose
            origin you trust); otherwise a file that would run code while unpickling is refused.
    """

    def __init__(self, cfg, trusted: bool = False):
        super().__init__(cfg)
        # DefaultTrainer's own checkpointer reads .pkl files with pickle.load (code in the file would
        # run): every read and save of this trainer goes through the checked checkpointer, the
        # periodic saves of its hooks included (atomic, never of non-finite weights)
        self.checkpointer = SafeDetectionCheckpointer(
            self.checkpointer.model, cfg.OUTPUT_DIR, trusted=trusted, trainer=weakref.proxy(self)
        )
        for hook in self._hooks:
            if hasattr(hook, "checkpointer"):
                hook.checkpointer = self.checkpointer

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        broadcast_buffers(model)  # every process evaluates the model rank 0 saves
        return super().test(cfg, model, evaluators)

    @classmethod
    def build_train_loader(cls, cfg):
        return build_detection_train_loader(cfg, mapper=CheckedDatasetMapper(cfg, True))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        mapper = CheckedDatasetMapper(cfg, False, dataset_names=(dataset_name,))
        return build_detection_test_loader(cfg, dataset_name, mapper=mapper)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        kind = MetadataCatalog.get(dataset_name).get("evaluator_type", "coco")
        if kind == "sem_seg":
            return SemSegEvaluator(dataset_name, distributed=True, output_dir=output_folder)
        return COCOEvaluator(dataset_name, output_dir=output_folder)
