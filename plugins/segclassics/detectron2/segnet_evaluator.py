"""detectron2 evaluator: the SegNet paper's metrics G / C / mIoU / BF (TPAMI 2017, Sec. 3-4).

The computation is ``segclassics.evaluation.seg_metrics`` (the same code as mmseg's
``SegNetMetric``); this class reads each image's ground truth from the ``sem_seg_file_name`` that
the dataset lists for its ``file_name`` (as detectron2's ``SemSegEvaluator`` does: the test
``DatasetMapper`` drops the label), takes ``argmax`` of the predicted ``sem_seg`` scores and
gathers per-image results across processes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from segclassics.evaluation.seg_metrics import BF_TOLERANCE_RATIO, SegNetMetrics, boundary_f1, confusion_matrix


class SegNetMetricsEvaluator(DatasetEvaluator):
    """``{'sem_seg': {'G', 'C', 'mIoU', 'BF', 'IoU-<class>', 'ACC-<class>'}}`` in percent.

    Args:
        dataset_name: registered dataset; its metadata gives ``stuff_classes`` and ``ignore_label``.
        boundary: compute BF (tolerance ``tolerance_ratio`` x image diagonal, 0.75 % in SegNet).
        distributed: gather results from all processes (rank 0 returns them).
    """

    def __init__(
        self,
        dataset_name: str,
        boundary: bool = True,
        tolerance_ratio: float = BF_TOLERANCE_RATIO,
        distributed: bool = True,
        ignore_label: Optional[int] = None,
    ):
        meta = MetadataCatalog.get(dataset_name)
        self.classes = list(meta.stuff_classes)
        self.ignore_label = meta.get("ignore_label", 255) if ignore_label is None else ignore_label
        self.boundary = boundary
        self.tolerance_ratio = tolerance_ratio
        self.distributed = distributed
        self.dataset_name = dataset_name
        self._gt_files = None
        self.reset()

    def _gt_file(self, inp) -> str:
        if "sem_seg_file_name" in inp:
            return inp["sem_seg_file_name"]
        if self._gt_files is None:
            self._gt_files = {d["file_name"]: d["sem_seg_file_name"] for d in DatasetCatalog.get(self.dataset_name)}
        if inp["file_name"] not in self._gt_files:
            raise KeyError(f"{inp['file_name']!r} is not an image of dataset {self.dataset_name!r}")
        return self._gt_files[inp["file_name"]]

    def reset(self):
        self._results = []

    def process(self, inputs, outputs):
        from PIL import Image

        for inp, out in zip(inputs, outputs):
            pred = out["sem_seg"].argmax(dim=0).cpu().numpy()
            name = self._gt_file(inp)
            with Image.open(name) as im:
                gt = np.asarray(im).astype(np.int64)
            n = len(self.classes)
            conf = confusion_matrix(pred, gt, n, self.ignore_label, name)
            bf = (
                boundary_f1(pred, gt, n, self.ignore_label, self.tolerance_ratio, name=name)
                if self.boundary
                else float("nan")
            )
            self._results.append((conf, bf))

    def evaluate(self):
        results = self._results
        if self.distributed:
            comm.synchronize()
            gathered = comm.gather(results, dst=0)
            if not comm.is_main_process():
                return {}
            results = [r for part in gathered for r in part]
        acc = SegNetMetrics(len(self.classes), self.ignore_label, boundary=self.boundary)
        for conf, bf in results:
            acc.conf += conf
            if self.boundary and not np.isnan(bf):
                acc.image_bf.append(bf)
        out = acc.compute()
        res = {k: float(out[k]) for k in ("G", "C", "mIoU", "BF") if k in out}
        for c, a, i in zip(self.classes, out["class_acc"], out["class_iou"]):
            res[f"IoU-{c}"] = float(i)
            res[f"ACC-{c}"] = float(a)
        return OrderedDict(sem_seg=res)
