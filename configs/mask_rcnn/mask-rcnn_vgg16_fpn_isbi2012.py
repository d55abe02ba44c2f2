# Mask R-CNN with segclassics' VGG16 (mmdet MODELS 'VGG16', a thin wrapper of
# segclassics.models.vgg.VGG16) + mmdet's FPN on ISBI 2012 cells. VGG16-BN (trainable from
# scratch; no ImageNet weights offline), pooled stage outputs pool2..pool5 (strides 4..32,
# 128/256/512/512 channels) in place of ResNet's C2..C5 (He et al. 2017, Sec. 3). Data and
# schedule: mask-rcnn_r50_fpn_gn-scratch_isbi2012.py. detectron2 twin:
# configs/detectron2/mask_rcnn_VGG16_FPN_isbi2012.py.
_base_ = "./mask-rcnn_r50_fpn_gn-scratch_isbi2012.py"

model = dict(
    backbone=dict(
        _delete_=True,
        type="VGG16",
        norm="BN",
        with_fc=False,
        conv1_1_padding=1,
        out_indices=("pool2", "pool3", "pool4", "pool5"),
    ),
    neck=dict(in_channels=[128, 256, 512, 512]),
)
