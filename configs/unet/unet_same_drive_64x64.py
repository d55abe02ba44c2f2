# Our UNet with padding='same' + batch norm (base 64, depth 5: the paper's widths, mmseg's padding)
# on mmseg's DRIVE recipe (64x64 crops, batch 4, CE + 3 x Dice, 40k iterations, slide inference),
# i.e. the setting of mmseg's UNet-S5-D16 (configs/unet/mmseg_unet_s5_d16_fcn_drive_64x64.py) with
# the paper's decoder (2x2 up-convolutions, concatenation, 1x1 classifier) and no auxiliary head.
# GPU-scale; data: python tools/dataset_converters/drive.py ../shared/data/drive data/drive
_base_ = ["./unet_drive.py"]
base_channels, depth = 64, 5
crop_size = (64, 64)
model = dict(
    type="EncoderDecoder",
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type="PaperUNetEncoder",
        in_channels=3,
        base_channels=base_channels,
        depth=depth,
        padding="same",
        norm="BN",
        _delete_=True,
    ),
    decode_head=dict(
        in_channels=[base_channels * 2**i for i in range(depth)],
        base_channels=base_channels,
        depth=depth,
        padding="same",
        norm="BN",
        in_index=list(range(depth)),
    ),
    test_cfg=dict(mode="slide", crop_size=(64, 64), stride=(42, 42), _delete_=True),
)
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="RandomResize", scale=(584, 565), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputsWithWeight"),
]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
# mmseg's schedule_40k
max_iters = 40000
optimizer = dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0005, _delete_=True)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
