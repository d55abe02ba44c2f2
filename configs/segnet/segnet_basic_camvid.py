# SegNet-Basic (Badrinarayanan et al., TPAMI 2017, Sec. 3.1): 4 encoders + 4 decoders, 64 channels,
# 7x7 kernels, BN after every conv, no biases, no decoder ReLU, pool indices for upsampling;
# trained from scratch on CamVid 11 classes at 360x480 with median frequency balancing.
_base_ = [
    "../_base_/models/segnet_basic.py",
    "../_base_/default_runtime.py",
    "../_base_/datasets/camvid.py",
]
crop_size = (360, 480)
num_classes = 11
# Median frequency balancing (SegNet Sec. 3.2, Eigen & Fergus 2015): measured on ../shared/data/camvid
# labels/train (367 images) with
#   python tools/analysis/class_weights.py ../shared/data/camvid/labels/train --num-classes 11 --ignore-index 11
# (freq(c) = pixels of c / labelled pixels of the images containing c; w = median / freq).
class_weight = [0.2794, 0.2018, 4.7889, 0.1491, 1.0, 0.4235, 3.8464, 1.9798, 0.789, 6.3847, 8.8193]
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(
        num_classes=num_classes,
        ignore_index=255,
        loss_decode=dict(
            _delete_=True, type="ClassWeightedCrossEntropyLoss", loss_weight=1.0, class_weight=class_weight
        ),
    ),
)
# SegNet Sec. 3.2 (training): SGD, fixed learning rate 0.1, momentum 0.9 (weight decay: our choice).
# The paper trains "until the training loss converges" and keeps the best model on validation:
# here 10k iterations (~330 epochs of 367 images at batch 12), validation every ~10 epochs.
optim_wrapper = dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=5e-4))
param_scheduler = []
train_cfg = dict(type="IterBasedTrainLoop", max_iters=10000, val_interval=310)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=31, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(
        type="CheckpointHook", by_epoch=False, interval=310, max_keep_ckpts=2, save_best="mIoU", rule="greater"
    ),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="SegVisualizationHook"),
)
