# Mask R-CNN R50-FPN (mmdet) on ISBI 2012 cell instances (1 class), from scratch.
#
# Same network, data and schedule as configs/detectron2/mask_rcnn_R_50_FPN_isbi2012.py.
# Model: mmdet's packaged R50-FPN Mask R-CNN with GroupNorm in ResNet + FPN and no ImageNet
# weights (none can be downloaded here; GN is what makes from-scratch training work, He et al.
# 2019 "Rethinking ImageNet Pre-training"); anchors 16..256 px (one octave below COCO's 32..512)
# because ISBI cells are small (median box ~32 px, 10 % under 12 px across); 128 sampled RoIs
# per image (paper: 512).
# Data (../shared/data/isbi2012/instances/{train,val}.json, 24 / 6 slices): the 512x512 slices at
# full resolution (resizing would shrink small cells below the P2 stride), random 256x256 crops
# with boxes recomputed from the cropped masks, random flips, 4 crops per iteration; evaluated
# on the 6 whole val slices, COCO bbox + segm AP with maxDets 1/10/100 as detectron2.
# Schedule: SGD lr 0.02 (no weight decay on norms), 50 warm-up iterations, 600 iterations, lr x0.1
# at 450 and 550, evaluation + checkpoint every 150 iterations.
# The measured CPU reproduction is the narrower ResNet-18 variant of this config,
# mask-rcnn_r18_fpn_gn-scratch_isbi2012.py (docs/models/mask_rcnn.md).
_base_ = "mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py"

default_scope = "mmdet"
custom_imports = dict(imports=["segclassics.mmdet"], allow_failed_imports=False)

norm_cfg = dict(type="GN", num_groups=32, requires_grad=True)
model = dict(
    backbone=dict(frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False, init_cfg=None),
    neck=dict(norm_cfg=norm_cfg),
    rpn_head=dict(anchor_generator=dict(scales=[4])),  # 16..256 px anchors on P2..P6 (stride x 4)
    roi_head=dict(bbox_head=dict(num_classes=1), mask_head=dict(num_classes=1)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=128))),  # CPU budget (paper/default: 512)
    test_cfg=dict(rcnn=dict(max_per_img=100)),
)

data_root = "{{ fileDirname }}/../../../shared/data/isbi2012/"  # beside the checkout
metainfo = dict(classes=("cell",), palette=[(220, 20, 60)])
img_scale = (512, 512)  # the slices' own size
crop_size = (256, 256)
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="Resize", scale=img_scale, keep_ratio=True),
    dict(type="RandomCrop", crop_size=crop_size, crop_type="absolute", recompute_bbox=True, allow_negative_crop=False),
    # cells cut by the crop border down to an empty mask would get a 0-width box (log(0) in the
    # box coder): drop them, as detectron2's DatasetMapper does with filter_empty_instances
    dict(type="FilterAnnotations", min_gt_bbox_wh=(1, 1), min_gt_mask_area=1, by_mask=True),
    # = detectron2's independent horizontal and vertical flips (each p=0.5)
    dict(type="RandomFlip", prob=[0.25, 0.25, 0.25], direction=["horizontal", "vertical", "diagonal"]),
    dict(type="PackDetInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=img_scale, keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type="CheckedCocoDataset",
        data_root=data_root,
        metainfo=metainfo,
        ann_file="instances/train.json",
        data_prefix=dict(img=""),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type="CheckedCocoDataset",
        data_root=data_root,
        metainfo=metainfo,
        ann_file="instances/val.json",
        data_prefix=dict(img=""),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(
    type="CheckedCocoMetric",
    ann_file=data_root + "instances/val.json",
    image_root=data_root,
    metric=["bbox", "segm"],
    proposal_nums=(1, 10, 100),
)  # maxDets as detectron2/pycocotools
test_evaluator = val_evaluator

max_iters = 600
val_interval = 150
train_cfg = dict(_delete_=True, type="IterBasedTrainLoop", max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(type="MultiStepLR", begin=0, end=max_iters, by_epoch=False, milestones=[450, 550], gamma=0.1),
]
# detectron2's get_default_optimizer_params(weight_decay_norm=0.0): no weight decay on norms
optim_wrapper = dict(optimizer=dict(lr=0.02), paramwise_cfg=dict(norm_decay_mult=0.0))
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(by_epoch=False, interval=val_interval, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
