# Mask R-CNN R18-FPN (mmdet) on ISBI 2012 cell instances, from scratch: the CPU reproduction.
#
# Same network, data and schedule as configs/detectron2/mask_rcnn_R_18_FPN_isbi2012.py; results of
# both, side by side, in docs/models/mask_rcnn.md.
# Everything (GroupNorm from scratch, 16..256 px anchors, full-resolution 256x256 crops, 4 crops
# per iteration, 600 iterations at lr 0.02) is the R50 ISBI config's; only the network is made
# CPU-sized: ResNet-18 and 128 channels in FPN, RPN and RoI heads instead of 256, 512-d box fc
# layers instead of 1024.
_base_ = "./mask-rcnn_r50_fpn_gn-scratch_isbi2012.py"

channels = 128  # FPN / RPN / RoI-head width (mmdet default: 256)
model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, fc_out_channels=512),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(in_channels=channels, conv_out_channels=channels),
    ),
)
