"""FCN-8s (Long et al., CVPR 2015) in detectron2 on the synthetic shapes, CPU demo size.

Same network as ``configs/fcn/fcn8s_vgg16_synthetic.py``: VGG16's depth with the reference Caffe
geometry (conv1_1 padded by 100, 7x7 fc6 without padding, crops 5/9/31) at 1/8 width with
BatchNorm, zero-initialised score layers, bilinear transposed convolutions. detectron2's
``SemanticSegmentor`` crops the head's top-left-aligned logits to each image.
For the full-width paper network drop ``widths``/``fc_channels``/``norm`` below (and load
converted ImageNet weights with ``train.init_checkpoint``, see docs/models/fcn.md).
"""

from detectron2.config import LazyCall as L
from detectron2.modeling import SemanticSegmentor

from segclassics.detectron2.fcn_head import FCNSemSegHead
from segclassics.detectron2.vgg16_backbone import VGG16Backbone

from .common.schedule_cpu_demo import lr_multiplier, optimizer, train  # noqa: F401
from .common.semseg_synthetic import dataloader  # noqa: F401

_widths, _fc = (8, 16, 32, 64, 64), 128
model = L(SemanticSegmentor)(
    backbone=L(VGG16Backbone)(
        in_channels=3,
        out_features=("pool3", "pool4", "fc7"),
        norm="BN",
        with_fc=True,
        conv1_1_padding=100,
        fc6_padding=0,
        ceil_mode=True,
        widths=_widths,
        fc_channels=_fc,
    ),
    sem_seg_head=L(FCNSemSegHead)(
        num_classes=6,
        in_features=("pool3", "pool4", "fc7"),
        in_channels=(_widths[2], _widths[3], _fc),
        variant="8s",
        mode="caffe",
        ignore_value=255,
    ),
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
)
train.output_dir = "./work_dirs/fcn8s_vgg16_synthetic_d2"
