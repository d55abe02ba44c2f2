# SegNet-Basic from scratch on CamVid for a 2-core CPU (`python tools/reproduce.py camvid`): the paper's
# network (segnet_basic_camvid.py: 4+4 stages, 64 channels, 7x7 kernels, BN, pool indices) and recipe
# (Sec. 3.2: SGD lr 0.1, momentum 0.9, median frequency balancing, horizontal flips, no pre-training),
# trained at 120x160 (the 360x480 images downscaled 3x, 1/9 of the FLOPs), batch 4 (paper 12), with a
# poly decay of the learning rate over 1600 iterations (~17 epochs; the paper trains to convergence).
# Evaluation: predictions are upsampled to 360x480 and scored against the full-resolution val labels
# (SegNetMetric: G, C, mIoU, BF).
_base_ = ["./segnet_basic_camvid.py"]
scale = (160, 120)  # (W, H) for mmseg's Resize
crop_size = (120, 160)
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="Resize", scale=scale, keep_ratio=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackSegInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=scale, keep_ratio=True),
    dict(type="LoadAnnotations"),  # after Resize: labels stay 360x480
    dict(type="PackSegInputs"),
]
model = dict(data_preprocessor=dict(size=crop_size))
train_dataloader = dict(batch_size=4, num_workers=1, persistent_workers=True, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, persistent_workers=True, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
max_iters = 1600
param_scheduler = [dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=400)
default_hooks = dict(
    logger=dict(type="LoggerHook", interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=200, max_keep_ckpts=2, save_best=None),
)
randomness = dict(seed=0)
