# README demo: a small paper UNet (base 16, depth 4, 'same' padding + batch norm) on the
# synthetic shapes (128x128 images, 6 classes), a few CPU minutes.
# Ronneberger et al. 2015, Sec. 2 architecture; 'same' padding so the tiles need no overlap-tile
# (see unet_valid_isbi2012.py for the paper's valid net with overlap-tile).
#
# The class of a shape is its outline only (colours and textures are drawn independently of the
# class), so every pixel's decision needs context as wide as the shape. The images are therefore
# resized to 64x64 for the network: at that size the depth-4 net's bottleneck (8x8) sees the whole
# image, and an iteration of 8 images costs half of one of 4 images at 128x128. Predictions are
# resized back and scored against the 128x128 labels (mmseg's test pipeline loads the labels
# after Resize, at their own size).
_base_ = [
    "../_base_/default_runtime.py",
    "../_base_/datasets/synthetic.py",
    "../_base_/schedules/schedule_cpu_demo.py",
]
crop_size = (64, 64)  # the network's input size (images resized from 128x128)
num_classes = 6
data_preprocessor = dict(
    type="SegDataPreProcessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size,
    # inference on other images: pad to the 2**3 the 3 poolings need (predictions are cropped back)
    test_cfg=dict(size_divisor=8),
)
model = dict(
    type="EncoderDecoder",
    data_preprocessor=data_preprocessor,
    backbone=dict(type="PaperUNetEncoder", in_channels=3, base_channels=16, depth=4, padding="same", norm="BN"),
    decode_head=dict(
        type="PaperUNetHead",
        in_channels=[16, 32, 64, 128],
        channels=16,
        num_classes=num_classes,
        base_channels=16,
        depth=4,
        padding="same",
        norm="BN",
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)

train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="Resize", scale=crop_size, keep_ratio=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackSegInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=crop_size, keep_ratio=True),
    dict(type="LoadAnnotations"),  # after Resize: labels stay 128x128
    dict(type="PackSegInputs"),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# 1500 AdamW iterations at lr 3e-3 (poly decay), validation at 750 and 1500. Measured results
# over several seeds are in docs/models/unet.md and the README.
randomness = dict(seed=0)
optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [dict(type="PolyLR", eta_min=1e-5, power=0.9, begin=0, end=1500, by_epoch=False)]
train_cfg = dict(max_iters=1500, val_interval=750)
default_hooks = dict(checkpoint=dict(interval=1500), logger=dict(interval=25))
