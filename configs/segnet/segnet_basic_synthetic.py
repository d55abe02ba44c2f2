# SegNet-Basic (TPAMI 2017, Sec. 3.1) on the synthetic shapes, CPU demo size: width 16 (paper: 64),
# 4+4 layers, 7x7 kernels, BN, pool-index unpooling. A few hundred iterations on a 2-core CPU.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/synthetic.py',
    '../_base_/schedules/schedule_cpu_demo.py',
]
crop_size = (128, 128)
num_classes = 6
segnet = dict(arch='basic', num_stages=4, kernel_size=7)
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
    backbone=dict(type='SegNetBackbone', in_channels=3, channels=16, **segnet),
    decode_head=dict(
        type='SegNetHead',
        in_channels=16,
        channels=16,
        num_classes=num_classes,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True),
        **segnet),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
val_evaluator = dict(type='SegNetMetric')
test_evaluator = val_evaluator
