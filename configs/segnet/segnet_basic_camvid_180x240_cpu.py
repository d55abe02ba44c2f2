# SegNet-Basic from scratch on CamVid at half resolution, for a 2-core CPU with native bf16
# (`python tools/reproduce.py camvid --amp --channels-last`): the paper's network
# (segnet_basic_camvid.py: 4+4 stages, 64 channels, 7x7 kernels, BN, pool indices) and recipe
# (Sec. 3.2: SGD lr 0.1, momentum 0.9, median frequency balancing, no pre-training), trained on
# 180x240 crops of the images scaled by 0.375-0.75 (the paper's 360x480 at half resolution: 1/4 of
# the FLOPs), batch 8 (paper 12), with mmseg's random scale, crop and photometric distortion on top
# of the paper's flips (367 training images), and a poly decay of the learning rate over 2500
# iterations (~55 epochs; the paper trains to convergence): 2.0-2.4 s per iteration in bf16 on a
# 2-core AMD EPYC (Zen 4), 91 min in all with the evaluations (docs/model_zoo.md).
# Evaluation: the 360x480 val images are scaled to 180x240, their predictions upsampled to 360x480 and
# scored against the full-resolution labels (SegNetMetric: G, C, mIoU, BF).
_base_ = ["./segnet_basic_camvid.py"]
scale = (240, 180)  # (W, H) for mmseg's Resize: half of 480x360
crop_size = (180, 240)
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="RandomResize", scale=scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type="RandomCrop", crop_size=crop_size),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=scale, keep_ratio=True),
    dict(type="LoadAnnotations"),  # after Resize: labels stay 360x480
    dict(type="PackSegInputs"),
]
model = dict(data_preprocessor=dict(size=crop_size))
train_dataloader = dict(batch_size=8, num_workers=1, persistent_workers=True, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, persistent_workers=True, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
max_iters = 2500
param_scheduler = [dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=500)
default_hooks = dict(
    logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=500, max_keep_ckpts=2, save_best=None),
)
randomness = dict(seed=0)
