# FCN-8s (reference Caffe geometry: conv1_1 pad 100, crops 5/9/31) on the synthetic shapes, CPU demo:
# VGG16's depth (13 conv + fc6 7x7 + fc7 1x1) at 1/8 width (8-16-32-64-64, fc 128) with BatchNorm
# (VGG16-BN variant; no ImageNet weights offline, and BN lets the plain 15-layer net train from
# scratch), AdamW + poly for 300 iterations (schedule_cpu_demo). The paper's network is
# configs/fcn/fcn8s_vgg16_voc12aug.py; this config only shows the pipeline working end to end.
_base_ = [
    "../_base_/models/fcn_vgg16.py",
    "../_base_/datasets/synthetic.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_cpu_demo.py",
]
widths = (8, 16, 32, 64, 64)
fc_channels = 128
model = dict(
    backbone=dict(norm="BN", widths=widths, fc_channels=fc_channels),
    decode_head=dict(num_classes=6, in_channels=[widths[2], widths[3], fc_channels]),
)
