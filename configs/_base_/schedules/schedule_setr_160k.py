# SETR's schedule (Zheng et al., CVPR 2021, Sec. 4, ADE20K): SGD lr 0.001, momentum 0.9, weight decay 0,
# poly decay (power 0.9, floor 1e-4 as the official/mmseg configs), 160k iterations, batch 16
# (the dataset config sets the per-GPU batch); decoder (any key containing 'head') lr x10.
optimizer = dict(type="SGD", lr=0.001, momentum=0.9, weight_decay=0.0)
optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=optimizer,
    clip_grad=None,
    paramwise_cfg=dict(custom_keys={"head": dict(lr_mult=10.0)}),
)
param_scheduler = [dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=160000, by_epoch=False)]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=160000, val_interval=16000)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=16000),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="SegVisualizationHook"),
)
