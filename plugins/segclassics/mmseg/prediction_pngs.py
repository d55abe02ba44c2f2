"""``output_dir`` / ``format_only`` / ``keep_results`` of our mmseg metrics, as mmseg's ``IoUMetric``.

mmseg's ``tools/test.py --out DIR`` (and ours) sets ``test_evaluator.output_dir = DIR`` and
``keep_results = True``. ``IoUMetric`` then writes, for every test image, ``DIR/<image stem>.png``:
the predicted class indices as a single-channel 8-bit PNG (``+ 1`` where the sample has
``reduce_zero_label``, giving back the dataset's own label values). :class:`PredictionPNGs` writes
the same files for ``SegNetMetric`` and ``BinarySegMetric``, through
:func:`segclassics.utils.writer.save_png` (atomic; never over a file this run did not write; never
into a folder of dataset images), and keeps them: ``keep_results`` is accepted for mmseg's
``--out``, and the PNGs stay whatever its value (as with ``IoUMetric``).
``format_only=True`` writes the PNGs and computes no metric (test sets without labels).
"""

from __future__ import annotations

import os.path as osp
from typing import Optional

import numpy as np


class PredictionPNGs:
    """Writes one prediction PNG per data sample into ``output_dir`` (``None``: writes nothing).

    Args:
        output_dir: folder of the PNGs (created when the first one is written).
        format_only: only write the PNGs, no metrics (the metric then needs no ``gt_sem_seg``).
        keep_results: accepted as mmseg's ``--out`` passes it; the PNGs are always kept.
    """

    def __init__(self, output_dir: Optional[str] = None, format_only: bool = False, keep_results: bool = False):
        if format_only and not output_dir:
            raise ValueError(
                "format_only=True writes the predictions only: it needs output_dir (mmseg's "
                "tools/test.py or segclassics-test: --out DIR)"
            )
        self.output_dir = output_dir
        self.format_only = format_only
        self.keep_results = keep_results

    def path(self, sample: dict) -> str:
        """``output_dir/<stem of the sample's img_path>.png`` (IoUMetric's name)."""
        stem = osp.splitext(osp.basename(sample["img_path"]))[0]
        return osp.abspath(osp.join(self.output_dir, f"{stem}.png"))

    def write(self, sample: dict) -> Optional[str]:
        """Write the sample's ``pred_sem_seg`` (``(1, H, W)`` class indices) if ``output_dir`` is set."""
        if self.output_dir is None:
            return None
        from segclassics.utils.writer import save_png

        labels = sample["pred_sem_seg"]["data"].squeeze().cpu().numpy()
        if sample.get("reduce_zero_label", False):
            labels = labels + 1
        return save_png(self.path(sample), labels.astype(np.uint8), what="output_dir (--out)")
