"""FCN-8s VGG16 "all-at-once" on PASCAL VOC 2012 + SBD aug in detectron2: the paper's network.

detectron2 twin of ``configs/fcn/fcn8s-atonce_vgg16_voc12aug.py`` (Shelhamer, Long & Darrell,
PAMI 2017, Sec. 4.3; reference ``voc-fcn8s-atonce``): convolutionized VGG16 with the Caffe
geometry (conv1_1 padded by 100, 7x7 fc6 without padding, crops 5/9/31), pool4 / pool3 scaled by
0.01 / 0.0001 before their zero-initialised score layers, all upsampling fixed bilinear;
batch 1 of whole images without augmentation, SGD momentum 0.99, fixed lr 1e-10 on the
*unnormalised* (summed over pixels) loss, weight decay 5e-4, biases at 2x lr without decay,
300k iterations. Paper (CVPR 2015, Table 3, staged FCN-8s): 62.2 mIoU on VOC 2012 test.

Data: ``common/voc12_sem_seg.py`` (VOC train + SBD aug for training, VOC val for evaluation).
Weights: ImageNet VGG16 converted for detectron2 (docs/models/fcn.md):
``python tools/convert_weights/vgg16_torchvision.py vgg16-397923af.pth pretrain/vgg16_d2.pth --prefix backbone.``
Not trained here (no VOC data or GPU on the project's machines).
"""

import torch
from detectron2.config import LazyCall as L
from detectron2.data import (
    DatasetMapper,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.evaluation import SemSegEvaluator
from detectron2.model_zoo import get_config
from detectron2.modeling import SemanticSegmentor
from detectron2.solver.build import get_default_optimizer_params
from fvcore.common.param_scheduler import LinearParamScheduler
from omegaconf import OmegaConf

from segclassics.detectron2.fcn_head import FCNSemSegHead
from segclassics.detectron2.vgg16_backbone import VGG16Backbone

from .common.voc12_sem_seg import TRAIN, VAL, VOC_CLASSES

model = L(SemanticSegmentor)(
    backbone=L(VGG16Backbone)(
        in_channels=3,
        out_features=("pool3", "pool4", "fc7"),
        norm=None,
        with_fc=True,
        conv1_1_padding=100,
        fc6_padding=0,
        ceil_mode=True,
        dropout=0.5,
    ),
    sem_seg_head=L(FCNSemSegHead)(
        num_classes=len(VOC_CLASSES),
        in_features=("pool3", "pool4", "fc7"),
        in_channels=(256, 512, 4096),
        variant="8s",
        mode="caffe",
        at_once=True,
        learn_intermediate_upsample=False,
        ignore_value=255,
        loss_reduction="sum",
    ),
    # torchvision's ImageNet normalisation (the converter reads torchvision's VGG16); the mappers give RGB
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
)

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names=list(TRAIN), filter_empty=False),
    mapper=L(DatasetMapper)(is_train=True, augmentations=[], image_format="RGB"),  # no jitter (Sec. 4.3)
    total_batch_size=1,
    num_workers=2,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names=VAL, filter_empty=False),
    mapper=L(DatasetMapper)(is_train=False, augmentations=[], image_format="RGB"),
    num_workers=2,
)
dataloader.evaluator = L(SemSegEvaluator)(dataset_name=VAL, distributed=True)

optimizer = L(torch.optim.SGD)(
    # Caffe lr_mult 2, decay 0 for biases (bias_lr_factor scales base_lr, hence the reference to lr)
    params=L(get_default_optimizer_params)(base_lr="${..lr}", bias_lr_factor=2.0, weight_decay_bias=0.0),
    lr=1e-10,
    momentum=0.99,
    weight_decay=5e-4,
)
# lr_policy: "fixed". (fvcore's ConstantParamScheduler refuses the progress 1.0 that detectron2's
# LRMultiplier reaches after the last iteration; a linear schedule from 1 to 1 is the same constant.)
lr_multiplier = L(LinearParamScheduler)(start_value=1.0, end_value=1.0)
train = get_config("common/train.py").train
train.max_iter = 300000
train.eval_period = 4000
train.checkpointer = dict(period=4000, max_to_keep=3)
train.init_checkpoint = "pretrain/vgg16_d2.pth"
train.output_dir = "work_dirs/fcn8s-atonce_vgg16_voc12aug_d2"
train.device = "cuda"  # tools/train.py falls back to the CPU when there is no GPU
