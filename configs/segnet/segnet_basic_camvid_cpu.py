# The capped CPU reproduction of docs/models/segnet.md: SegNet-Basic (64 channels, 7x7, 4+4 layers, BN,
# median frequency balancing) from scratch on CamVid train, trained at 120x160 (the 360x480 images
# downscaled 3x) because it had ~20 minutes of a shared 2-core CPU. Evaluation: predictions are
# upsampled to 360x480 and scored against the full-resolution val labels (SegNetMetric: G, C, mIoU, BF).
# Differences from the paper (Sec. 3.2): resolution, iterations, batch 4, AdamW instead of SGD 0.1.
_base_ = ['./segnet_basic_camvid.py']
scale = (160, 120)  # (W, H) for mmseg's Resize
crop_size = (120, 160)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations'),  # after Resize: labels stay 360x480
    dict(type='PackSegInputs'),
]
model = dict(data_preprocessor=dict(size=crop_size))
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=200, val_interval=40)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=40, max_keep_ckpts=1, save_best='mIoU',
                    rule='greater'))
