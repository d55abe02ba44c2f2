# A few hundred iterations: minutes on a 2-core CPU. For the demo and smoke tests.
optimizer = dict(type="AdamW", lr=1e-3, weight_decay=1e-4)
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer, clip_grad=None)
param_scheduler = [dict(type="PolyLR", eta_min=1e-5, power=0.9, begin=0, end=300, by_epoch=False)]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=300, val_interval=300)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=300),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="SegVisualizationHook"),
)
