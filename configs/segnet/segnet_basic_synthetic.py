# SegNet-Basic (TPAMI 2017, Sec. 3.1) on the synthetic shapes, CPU demo size: width 16 (paper: 64),
# 4+4 layers, 7x7 kernels, BN, pool-index unpooling. A few hundred iterations on a 2-core CPU.
_base_ = [
    "../_base_/models/segnet_basic.py",
    "../_base_/default_runtime.py",
    "../_base_/datasets/synthetic.py",
    "../_base_/schedules/schedule_cpu_demo.py",
]
crop_size = (128, 128)
num_classes = 6
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(channels=16),
    decode_head=dict(in_channels=16, channels=16, num_classes=num_classes),
)
val_evaluator = dict(type="SegNetMetric")
test_evaluator = val_evaluator
