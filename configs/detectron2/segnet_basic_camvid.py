"""SegNet-Basic (Badrinarayanan et al., TPAMI 2017, Sec. 3.1: 4+4 layers, 64 channels, 7x7, BN)
on CamVid 11 classes in detectron2, with median-frequency class weights.

Data: ``../shared/data/camvid`` beside the checkout (train 367 / val 101, 480x360), override with
``dataloader.train.dataset.root=... dataloader.test.dataset.root=...``. The label files keep
void = 11, hence ``ignore_value=11`` (detectron2 also pads targets with it). Class weights:
``tools/analysis/class_weights.py ../shared/data/camvid/labels/train --num-classes 11
--ignore-index 11`` (the same values as ``configs/segnet/segnet_basic_camvid.py``).
Schedule: the paper's SGD, fixed lr 0.1, momentum 0.9, batch 12 (here on CPU: see train.device).
"""

import detectron2.data.transforms as T
import torch
from detectron2.config import LazyCall as L
from detectron2.data import DatasetMapper, build_detection_test_loader, build_detection_train_loader
from detectron2.modeling import SemanticSegmentor
from detectron2.solver.build import get_default_optimizer_params
from fvcore.common.param_scheduler import LinearParamScheduler
from omegaconf import OmegaConf

from segclassics.detectron2.camvid import DEFAULT_ROOT, register_camvid
from segclassics.detectron2.datasets import registered_dataset_dicts
from segclassics.detectron2.segnet_backbone import SegNetEncoderBackbone
from segclassics.detectron2.segnet_evaluator import SegNetMetricsEvaluator
from segclassics.detectron2.segnet_head import SegNetSemSegHead

CLASS_WEIGHTS = [0.2794, 0.2018, 4.7889, 0.1491, 1.0, 0.4235, 3.8464, 1.9798, 0.789, 6.3847, 8.8193]

_segnet = dict(arch="basic", channels=64, num_stages=4, kernel_size=7)
model = L(SemanticSegmentor)(
    backbone=L(SegNetEncoderBackbone)(in_channels=3, **_segnet),
    sem_seg_head=L(SegNetSemSegHead)(num_classes=11, ignore_value=11, class_weights=CLASS_WEIGHTS, **_segnet),
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
)

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(registered_dataset_dicts)(name="camvid_sem_seg_train", register=register_camvid, root=DEFAULT_ROOT),
    mapper=L(DatasetMapper)(is_train=True, augmentations=[L(T.RandomFlip)(horizontal=True)], image_format="RGB"),
    total_batch_size=12,
    num_workers=2,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(registered_dataset_dicts)(
        name="camvid_sem_seg_val", register=register_camvid, root="${...train.dataset.root}"
    ),
    mapper=L(DatasetMapper)(is_train=False, augmentations=[], image_format="RGB"),
    num_workers=2,
)
# SegNet's metrics (G, C, mIoU, BF), the same code as mmseg's SegNetMetric
dataloader.evaluator = L(SegNetMetricsEvaluator)(dataset_name="${..test.dataset.name}", distributed=True)

optimizer = L(torch.optim.SGD)(
    params=L(get_default_optimizer_params)(weight_decay_norm=0.0), lr=0.1, momentum=0.9, weight_decay=5e-4
)
# the paper's fixed learning rate, no warm-up. (fvcore's ConstantParamScheduler refuses the progress 1.0
# that detectron2's LRMultiplier reaches after the last iteration; linear from 1 to 1 is the same constant.)
lr_multiplier = L(LinearParamScheduler)(start_value=1.0, end_value=1.0)
train = dict(
    output_dir="./work_dirs/segnet_basic_camvid_d2",
    init_checkpoint="",
    max_iter=10000,
    amp=dict(enabled=False),
    ddp=dict(broadcast_buffers=False, find_unused_parameters=False, fp16_compression=False),
    checkpointer=dict(period=500, max_to_keep=3),
    eval_period=500,
    log_period=20,
    device="cuda" if torch.cuda.is_available() else "cpu",
    seed=0,
)
