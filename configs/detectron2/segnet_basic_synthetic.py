"""SegNet-Basic (Badrinarayanan et al., TPAMI 2017, Sec. 3.1) in detectron2 on the synthetic shapes.

Width 16 (paper: 64) and the CPU demo schedule so it runs in minutes on a laptop; the backbone
returns the pool indices as extra feature entries (``pool{k}_indices``, ``pool{k}_size``) that
the head reads back (see ``segclassics/detectron2/segnet_backbone.py``).
"""

from detectron2.config import LazyCall as L
from detectron2.modeling import SemanticSegmentor

from segclassics.detectron2.segnet_backbone import SegNetEncoderBackbone
from segclassics.detectron2.segnet_evaluator import SegNetMetricsEvaluator
from segclassics.detectron2.segnet_head import SegNetSemSegHead

from .common.schedule_cpu_demo import lr_multiplier, optimizer, train  # noqa: F401
from .common.semseg_synthetic import dataloader  # noqa: F401

_segnet = dict(arch="basic", channels=16, num_stages=4, kernel_size=7)
model = L(SemanticSegmentor)(
    backbone=L(SegNetEncoderBackbone)(in_channels=3, **_segnet),
    sem_seg_head=L(SegNetSemSegHead)(num_classes=6, ignore_value=255, **_segnet),
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
)
dataloader.evaluator = L(SegNetMetricsEvaluator)(dataset_name="${..test.dataset.name}", distributed=True)
train.output_dir = "./work_dirs/segnet_basic_synthetic_d2"
