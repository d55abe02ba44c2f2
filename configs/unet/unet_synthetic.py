# README demo: a small paper UNet (base 16, depth 4, 'same' padding + batch norm) on the
# synthetic shapes (128x128, 6 classes). A few hundred iterations on a 2-core CPU.
# Ronneberger et al. 2015, Sec. 2 architecture; 'same' padding so the 128x128 tiles need no
# overlap-tile (see unet_valid_isbi2012.py for the paper's valid net with overlap-tile).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/synthetic.py',
    '../_base_/schedules/schedule_cpu_demo.py',
]
crop_size = (128, 128)
num_classes = 6
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='PaperUNetEncoder', in_channels=3, base_channels=16, depth=4, padding='same', norm='bn'),
    decode_head=dict(
        type='PaperUNetHead',
        in_channels=[16, 32, 64, 128],
        channels=16,
        num_classes=num_classes,
        base_channels=16,
        depth=4,
        padding='same',
        norm='bn',
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

# Demo schedule: 900 AdamW iterations at lr 3e-3, about 3 minutes on 2 CPU cores. Measured on the
# synthetic val split (unseeded runs, so they vary): 300 it / lr 1e-3 -> mIoU 13.2, no better than
# predicting background everywhere (13.1); 800 it / lr 3e-3 -> 20.5; 900 it / lr 3e-3 -> 31.0;
# 1200 it / lr 6e-3 -> 27.0. The seed makes the demo repeatable.
randomness = dict(seed=0)
optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=900, by_epoch=False)]
train_cfg = dict(max_iters=900, val_interval=900)
default_hooks = dict(checkpoint=dict(interval=900))
