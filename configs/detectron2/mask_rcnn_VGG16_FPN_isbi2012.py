"""Mask R-CNN with segclassics' VGG16 + detectron2's FPN (detectron2) on ISBI 2012 cells.

The R50 of ``mask_rcnn_R_50_FPN_isbi2012.py`` is replaced by ``VGG16Backbone``
(Simonyan & Zisserman 2015, Table 1 D; ``segclassics.models.vgg``) with BatchNorm (vgg16_bn:
trainable from scratch, no ImageNet weights offline), its pooled stage outputs pool2..pool5
(strides 4, 8, 16, 32; 128/256/512/512 channels) feeding detectron2's FPN exactly where ResNet's
res2..res5 would (He et al. 2017, Sec. 3 "Network Architecture"). Everything else (RPN,
RoIAlign heads, data, schedule) is the R50 config's. mmdet twin:
``configs/mask_rcnn/mask-rcnn_vgg16_fpn_isbi2012.py``.
"""

from detectron2.config import LazyCall as L

from segclassics.detectron2.vgg16_backbone import VGG16Backbone

from .mask_rcnn_R_50_FPN_isbi2012 import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up = L(VGG16Backbone)(
    norm="BN",
    with_fc=False,
    conv1_1_padding=1,
    ceil_mode=True,
    out_features=("pool2", "pool3", "pool4", "pool5"),
    size_divisibility=32,
)
model.pixel_mean = [123.675, 116.280, 103.530]  # torchvision VGG16 normalisation (RGB)
model.pixel_std = [58.395, 57.120, 57.375]
model.input_format = "RGB"
dataloader.train.mapper.image_format = "RGB"
dataloader.test.mapper.image_format = "RGB"
train.output_dir = "work_dirs/mask_rcnn_VGG16_FPN_isbi2012"
