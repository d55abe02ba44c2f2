# DRIVE retinal vessels on a CPU: our UNet with padding='same' + batch norm (mmseg's UNet-S5-D16
# layout: depth 5, 4 poolings) at a quarter of the paper's widths (base 16: 16..256 channels,
# 1.94 M parameters, 1/16 of the FLOPs), trained on 6000 batches of 4 128x128 crops on one core
# of a 2-core CPU (`python tools/reproduce.py drive`). mmseg's recipe otherwise: random rescale
# 0.5-2.0, crop, flip, photometric distortion, CE + 3 x Dice loss (mmseg's best DRIVE UNet:
# vessel Dice 79.32, 40k iterations of 4 64x64 crops on GPUs). Differences, for the CPU: AdamW
# instead of SGD (converges in far fewer iterations), vertical flips too, whole-image inference.
# Evaluated on the 20 DRIVE test images: vessel Dice over the whole image (mmseg's 'Dice' of
# class vessel) and inside the field of view, mmseg's mDice.
# Data: python tools/dataset_converters/drive.py ../shared/data/drive data/drive
_base_ = ["./unet_same_drive_64x64.py"]
base_channels, depth = 16, 5
crop_size = (128, 128)
model = dict(
    # training crops are 128x128; whole test images are padded to a multiple of 16 (4 poolings)
    data_preprocessor=dict(size=crop_size, test_cfg=dict(size_divisor=2 ** (depth - 1))),
    backbone=dict(base_channels=base_channels, depth=depth),
    decode_head=dict(in_channels=[base_channels * 2**i for i in range(depth)], base_channels=base_channels),
    test_cfg=dict(mode="whole", _delete_=True),
)
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="RandomResize", scale=(584, 565), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5, direction=["horizontal", "vertical"]),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputsWithWeight"),
]
train_dataloader = dict(batch_size=4, num_workers=1, dataset=dict(pipeline=train_pipeline))
max_iters = 6000
optimizer = dict(type="AdamW", lr=2e-3, weight_decay=1e-4, _delete_=True)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.1, begin=0, end=100, by_epoch=False),
    dict(type="PolyLR", eta_min=1e-5, power=0.9, begin=100, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=1000)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=300, max_keep_ckpts=2, save_best=None)
)  # the last weights are the result
randomness = dict(seed=0)
