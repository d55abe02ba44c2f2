"""mmseg evaluator: the SegNet paper's metrics -- global accuracy (G), class-average accuracy
(C), mIoU and boundary F1 (BF, Csurka et al. BMVC 2013, tolerance 0.75 % of the image diagonal).

SegNet (Badrinarayanan et al., TPAMI 2017), Sec. 3-4. All computation is in
``segclassics.evaluation.seg_metrics`` (documented conventions: void pixels, contours,
per-image class averaging of BF); this class only collects per-image results across
processes.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS

from segclassics.evaluation.seg_metrics import BF_TOLERANCE_RATIO, SegNetMetrics, boundary_f1, confusion_matrix

from .prediction_pngs import PredictionPNGs


@METRICS.register_module()
class SegNetMetric(BaseMetric):
    """G / C / mIoU / BF in percent (keys ``G``, ``C``, ``mIoU``, ``BF``) as in SegNet's tables.

    Args:
        ignore_index: label not evaluated (255: ``CamVidDataset`` maps void 11 to 255).
        boundary: compute BF (one distance transform per class and image).
        tolerance_ratio: BF tolerance as a fraction of the image diagonal (0.0075).
        output_dir, format_only, keep_results: as mmseg's ``IoUMetric`` (``tools/test.py --out DIR``):
            write ``output_dir/<image stem>.png`` with the predicted labels; ``format_only``: no
            metrics (see :mod:`segclassics.mmseg.prediction_pngs`).
        collect_device, prefix: ``BaseMetric`` arguments.

    ``process`` expects data samples with ``pred_sem_seg`` and ``gt_sem_seg`` ``(1, H, W)``
    (mmseg's standard); predictions are already at the label's resolution after mmseg's
    post-processing.
    """

    default_prefix: Optional[str] = None

    def __init__(
        self,
        ignore_index: int = 255,
        boundary: bool = True,
        tolerance_ratio: float = BF_TOLERANCE_RATIO,
        output_dir: Optional[str] = None,
        format_only: bool = False,
        keep_results: bool = False,
        collect_device: str = "cpu",
        prefix: Optional[str] = None,
        **kwargs,
    ):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.predictions = PredictionPNGs(output_dir, format_only, keep_results)
        self.ignore_index = ignore_index
        self.boundary = boundary
        self.tolerance_ratio = tolerance_ratio

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        num_classes = len(self.dataset_meta["classes"])
        for sample in data_samples:
            self.predictions.write(sample)
            if self.predictions.format_only:
                continue
            pred = sample["pred_sem_seg"]["data"].squeeze(0).cpu().numpy()
            gt = sample["gt_sem_seg"]["data"].squeeze(0).cpu().numpy()
            name = sample.get("seg_map_path", sample.get("img_path", ""))
            conf = confusion_matrix(pred, gt, num_classes, self.ignore_index, name)
            bf = (
                boundary_f1(pred, gt, num_classes, self.ignore_index, self.tolerance_ratio, name=name)
                if self.boundary
                else float("nan")
            )
            self.results.append((conf, bf))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        if self.predictions.format_only:
            print_log(f"predictions written to {self.predictions.output_dir} (format_only: no metrics)", logger=logger)
            return {}
        classes = self.dataset_meta["classes"]
        acc = SegNetMetrics(len(classes), self.ignore_index, boundary=self.boundary)
        for conf, bf in results:
            acc.conf += conf
            if self.boundary and not np.isnan(bf):
                acc.image_bf.append(bf)
        out = acc.compute()
        lines = [f"{'class':<14}{'acc':>8}{'IoU':>8}"]
        for c, a, i in zip(classes, out["class_acc"], out["class_iou"]):
            lines.append(f"{c:<14}{a:8.2f}{i:8.2f}")
        print_log("per-class results:\n" + "\n".join(lines), logger=logger)
        metrics = {k: round(float(out[k]), 2) for k in ("G", "C", "mIoU", "BF") if k in out}
        return metrics
