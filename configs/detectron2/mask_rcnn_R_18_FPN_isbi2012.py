"""Mask R-CNN R18-FPN (detectron2) on ISBI 2012 cell instances, from scratch: the CPU reproduction.

Same network, data and schedule as ``configs/mask_rcnn/mask-rcnn_r18_fpn_gn-scratch_isbi2012.py``
(mmdet); results of both, side by side, in docs/models/mask_rcnn.md.

Everything (GroupNorm from scratch, 16..256 px anchors, full-resolution 256x256 crops, 4 crops per
iteration, 600 iterations at lr 0.02) is ``mask_rcnn_R_50_FPN_isbi2012.py``'s; only the network is
made CPU-sized: ResNet-18 (BasicBlock stages, detectron2's ``make_default_stages``) and 128
channels in FPN, RPN and RoI heads instead of 256, 512-d box fc layers instead of 1024.
"""

from .mask_rcnn_R_50_FPN_isbi2012 import dataloader, lr_multiplier, model, optimizer, train

CHANNELS = 128  # FPN / RPN / RoI-head width (detectron2 default: 256)

model.backbone.bottom_up.stages.depth = 18
del model.backbone.bottom_up.stages.stride_in_1x1  # BasicBlock has no 1x1 conv to put the stride in
model.backbone.out_channels = CHANNELS
model.proposal_generator.head.in_channels = CHANNELS
model.roi_heads.box_head.input_shape.channels = CHANNELS
model.roi_heads.box_head.fc_dims = [512, 512]
model.roi_heads.box_predictor.input_shape.channels = 512
model.roi_heads.mask_head.input_shape.channels = CHANNELS
model.roi_heads.mask_head.conv_dims = [CHANNELS] * 5  # 4 convs + the deconv
train.output_dir = "work_dirs/mask_rcnn_R_18_FPN_isbi2012"
