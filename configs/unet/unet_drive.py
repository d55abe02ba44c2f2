# Paper UNet (Ronneberger et al. 2015) on DRIVE retinal vessels, CPU-scale reproduction.
# Sec. 2: valid (unpadded) convolutions, crop-and-concatenate; Fig. 2: overlap-tile inference with
# mirror padding; Sec. 3.1: elastic deformation (3x3 grid, sigma 10 px).
# CPU scale (documented in docs/models/unet.md): base 8 channels, depth 4 (the paper: 64, 5) and
# batch norm (not in the 2015 paper) so that a <20 minute run (1200 its) on a 2-core CPU trains; loss
# CE + 3 x Dice as mmseg's best DRIVE UNet (79.32 vessel Dice, 40k iterations on GPUs).
# Data: python tools/dataset_converters/drive.py ../shared/data/drive data/drive
_base_ = ["../_base_/default_runtime.py"]
base_channels, depth = 8, 4
border = 44  # segclassics.models.unet.unet_border(4): (220 - 132) / 2
tile = (220, 220)  # valid input tile for depth 4 -> 132x132 output
data_root = "data/drive"
data_preprocessor = dict(
    type="SegDataPreProcessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=tile,
)  # training crops are exactly one tile, so nothing is padded (test images are not padded)
model = dict(
    type="OverlapTileEncoderDecoder",
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type="PaperUNetEncoder", in_channels=3, base_channels=base_channels, depth=depth, padding="valid", norm="BN"
    ),
    decode_head=dict(
        type="PaperUNetHead",
        in_channels=[base_channels * 2**i for i in range(depth)],
        num_classes=2,
        base_channels=base_channels,
        depth=depth,
        padding="valid",
        norm="BN",
        loss_decode=[
            dict(type="CrossEntropyLoss", loss_name="loss_ce", loss_weight=1.0),
            dict(type="DiceLoss", loss_name="loss_dice", loss_weight=3.0),
        ],
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="overlap_tile", tile_size=(412, 412), batch_tiles=2),
)  # 412 -> 324 output tiles

train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="ElasticDeformation", sigma=10, grid=3, prob=0.5),
    dict(type="RandomFlip", prob=0.5, direction=["horizontal", "vertical"]),
    dict(type="MirrorPadBorder", border=border),
    dict(type="RandomCrop", crop_size=tile),
    dict(type="PackSegInputsWithWeight"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="PackSegInputsWithWeight"),  # carries fov_path for BinarySegMetric
]
train_dataloader = dict(
    batch_size=2,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(
        type="DRIVEFOVDataset",
        data_root=data_root,
        data_prefix=dict(img_path="img_dir/training", seg_map_path="ann_dir/training"),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type="DRIVEFOVDataset",
        data_root=data_root,
        data_prefix=dict(img_path="img_dir/test", seg_map_path="ann_dir/test", fov_path="fov_dir/test"),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
# Dice/Acc inside the FOV, Dice_all over the image (mmseg's 'Dice' column), plus mmseg's mDice
val_evaluator = [
    dict(type="BinarySegMetric", positive=1, fov_key="fov_path"),
    dict(type="IoUMetric", iou_metrics=["mDice"]),
]
test_evaluator = val_evaluator

max_iters = 1200
optimizer = dict(type="AdamW", lr=1e-3, weight_decay=1e-4)
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer, clip_grad=None)
param_scheduler = [dict(type="PolyLR", eta_min=1e-5, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=400)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=400, save_best="Dice", rule="greater"),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="SegVisualizationHook"),
)
