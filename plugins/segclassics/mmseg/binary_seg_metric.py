"""``BinarySegMetric``: Dice/F1, accuracy and pixel error (inside a field of view) and the ISBI 2012
Rand and warping errors, for the UNet benchmarks (Ronneberger et al. 2015, Sec. 4). Calls
``segclassics.evaluation.binary``."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS
from PIL import Image

from ..evaluation.binary import BinaryConfusion, rand_error_binary, warping_error
from .prediction_pngs import PredictionPNGs


@METRICS.register_module()
class BinarySegMetric(BaseMetric):
    """Binary segmentation metrics of one ``positive`` class.

    Reported (Dice, accuracy, precision, recall in %, errors as fractions like the papers):
    ``Dice`` (= F1, from counts summed over the dataset, as mmseg's ``IoUMetric``), ``mDice_img``
    (mean of per-image Dice), ``Acc``, ``Precision``, ``Recall`` (sensitivity), ``Specificity``,
    ``pixel_error`` (1 - accuracy), ``pixel_error_fscore`` (1 - F-score of the ``positive`` class, the
    ISBI 2012 challenge's definition of the pixel error: "1 - the maximal F-score of pixel similarity",
    the maximum taken over thresholds of a submitted probability map, so for a probability map the
    challenge's value is at most this one at the argmax) and, with ``rand=True``, ``rand_error`` (ISBI: 1 - foreground-
    restricted Rand F-score of the connected components of the ``positive`` class, mean over images)
    and, with ``warping=True``, ``warping_error`` (ISBI: the pixel error left after the ground truth is
    warped onto the prediction by topology-preserving flips, ``positive`` pixels 4-connected and the
    rest 8-connected; mean over images).
    All of these are inside the field of view when there is one; ``Dice_all`` is the Dice over every
    non-ignored pixel (the number mmseg's ``IoUMetric`` reports as the class Dice).

    Args:
        positive: class index of the positive class (DRIVE vessel 1; ISBI cell 1).
        fov_key: metainfo key of a field-of-view mask file; pixels outside it are left out
            (``None`` or a missing key: all non-ignored pixels).
        rand: also compute the Rand error (slower).
        warping: also compute the warping error (slower).
        ignore_index: label value left out.
        output_dir, format_only, keep_results: as mmseg's ``IoUMetric`` (``tools/test.py --out DIR``):
            write ``output_dir/<image stem>.png`` with the predicted labels; ``format_only``: no
            metrics (see :mod:`segclassics.mmseg.prediction_pngs`).
    """

    def __init__(
        self,
        positive: int = 1,
        fov_key: str = "fov_path",
        rand: bool = False,
        warping: bool = False,
        ignore_index: int = 255,
        output_dir: Optional[str] = None,
        format_only: bool = False,
        keep_results: bool = False,
        collect_device: str = "cpu",
        prefix=None,
        **kwargs,
    ):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.predictions = PredictionPNGs(output_dir, format_only, keep_results)
        self.positive, self.fov_key, self.rand, self.ignore_index = positive, fov_key, rand, ignore_index
        self.warping = warping

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.predictions.write(sample)
            if self.predictions.format_only:
                continue
            pred = sample["pred_sem_seg"]["data"].squeeze().cpu().numpy()
            gt = sample["gt_sem_seg"]["data"].squeeze().cpu().numpy()
            mask = gt != self.ignore_index
            if self.fov_key and sample.get(self.fov_key):
                fov = np.asarray(Image.open(sample[self.fov_key]).convert("L")) > 0
                if fov.shape != gt.shape:
                    raise ValueError(f"FOV mask {sample[self.fov_key]!r} has shape {fov.shape}, label {gt.shape}")
                mask &= fov
            p, t = pred == self.positive, gt == self.positive
            c = BinaryConfusion().update(p, t, mask)
            c_all = BinaryConfusion().update(p, t, gt != self.ignore_index)
            rand = rand_error_binary(p & mask, t & mask) if self.rand else float("nan")
            warp = warping_error(p, t, mask) if self.warping else float("nan")
            self.results.append((c.tp, c.fp, c.fn, c.tn, c.dice(), rand, c_all.tp, c_all.fp, c_all.fn, c_all.tn, warp))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        if self.predictions.format_only:
            print_log(
                f"predictions written to {self.predictions.output_dir} (format_only: no metrics)",
                logger=MMLogger.get_current_instance(),
            )
            return {}
        arr = np.asarray(results, dtype=np.float64)
        c = BinaryConfusion(*(int(v) for v in arr[:, :4].sum(0)))
        res = dict(
            Dice=100 * c.dice(),
            mDice_img=100 * float(arr[:, 4].mean()),
            Acc=100 * c.accuracy(),
            Precision=100 * c.precision(),
            Recall=100 * c.recall(),
            Specificity=100 * c.specificity(),
            pixel_error=c.pixel_error(),
            pixel_error_fscore=1.0 - c.dice(),
        )
        c_all = BinaryConfusion(*(int(v) for v in arr[:, 6:10].sum(0)))
        res["Dice_all"] = 100 * c_all.dice()  # all non-ignored pixels, as mmseg's IoUMetric 'Dice' column
        if self.rand:
            res["rand_error"] = float(arr[:, 5].mean())
        if self.warping:
            res["warping_error"] = float(arr[:, 10].mean())
        errors = ("pixel_error", "pixel_error_fscore", "rand_error", "warping_error")
        return {k: round(v, 6) if k in errors else round(v, 2) for k, v in res.items()}
