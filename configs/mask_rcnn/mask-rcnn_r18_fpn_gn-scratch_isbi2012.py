# Mask R-CNN R18-FPN (mmdet) on ISBI 2012 cell instances, from scratch: the CPU reproduction.
#
# Same network, data and schedule as configs/detectron2/mask_rcnn_R_18_FPN_isbi2012.py; results of
# both, side by side, in docs/models/mask_rcnn.md.
# Model: mmdet's packaged Mask R-CNN (inherited through the R50 ISBI config: GroupNorm, no ImageNet
# weights -- none offline) on ResNet-18, made CPU-sized: 128 channels in FPN, RPN and RoI heads
# instead of 256, 512-d box fc layers instead of 1024, 128 sampled RoIs per image instead of 512.
# Anchors 16..256 px (one octave below COCO's 32..512): ISBI cells are small (median box ~32 px).
# Data: the 512x512 slices at full resolution, random 256x256 crops (boxes recomputed from the
# cropped masks), random flips, 4 crops per iteration; evaluated on the 6 whole val slices, COCO
# bbox + segm AP with maxDets 100.
# Schedule: SGD lr 0.02 (no weight decay on norms), 50 warm-up iterations, 600 iterations, lr x0.1
# at 450 and 550, evaluation every 150 iterations.
_base_ = './mask-rcnn_r50_fpn_gn-scratch_isbi2012.py'

channels = 128  # FPN / RPN / RoI-head width (mmdet default: 256)
model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels,
                  anchor_generator=dict(scales=[4])),  # 16..256 px anchors on P2..P6
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, fc_out_channels=512),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(in_channels=channels, conv_out_channels=channels)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=128))))

img_scale = (512, 512)
crop_size = (256, 256)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, crop_type='absolute', recompute_bbox=True, allow_negative_crop=False),
    # cells cut by the crop border down to an empty mask would get a 0-width box (log(0) in the
    # box coder): drop them, as detectron2's DatasetMapper does with filter_empty_instances
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), min_gt_mask_area=1, by_mask=True),
    dict(type='RandomFlip', prob=[0.25, 0.25, 0.25], direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 600
val_interval = 150
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[450, 550], gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(lr=0.02))
default_hooks = dict(checkpoint=dict(interval=val_interval))
