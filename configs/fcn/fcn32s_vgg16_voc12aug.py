# FCN-32s VGG16 on VOC 2012 + SBD aug, the released reference recipe ("heavy", Shelhamer, Long &
# Darrell, PAMI 2017, Sec. 4.3; fcn.berkeleyvision.org voc-fcn32s/solver.prototxt + net.py):
# batch 1 whole images, SGD momentum 0.99, fixed lr 1e-10 on the *unnormalised* (summed over
# pixels) softmax loss, weight decay 5e-4, biases at 2x lr and no decay, 100k iterations,
# initialised from ImageNet VGG16 (fc6/fc7 convolutionized), score layer zero, upsampling fixed bilinear.
# The reference trained on SBD train (8498) and validated on seg11valid (736 VOC 2011 images);
# here mmseg's standard VOC12 aug train (10582) / VOC12 val (1449).
_base_ = [
    "../_base_/models/fcn_vgg16.py",
    "../_base_/datasets/voc12aug.py",
    "../_base_/default_runtime.py",
]
model = dict(
    # python tools/convert_weights/vgg16_torchvision.py vgg16-397923af.pth pretrain/vgg16_fcn.pth
    backbone=dict(pretrained="pretrain/vgg16_fcn.pth"),
    decode_head=dict(
        variant="32s",
        # unnormalised loss: Caffe SoftmaxWithLoss(normalize=False) with ignore_label 255
        loss_decode=dict(_delete_=True, type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0, reduction="sum"),
    ),
)
optimizer = dict(type="SGD", lr=1e-10, momentum=0.99, weight_decay=5e-4)
optim_wrapper = dict(
    type="OptimWrapper", optimizer=optimizer, clip_grad=None, paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0)
)  # Caffe lr_mult 2, decay_mult 0
param_scheduler = []  # lr_policy: "fixed"
train_cfg = dict(type="IterBasedTrainLoop", max_iters=100000, val_interval=4000)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=4000, max_keep_ckpts=3),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="SegVisualizationHook"),
)
