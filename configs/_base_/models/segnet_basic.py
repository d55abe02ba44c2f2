# SegNet-Basic (Badrinarayanan et al., TPAMI 2017, Sec. 3.1): 4 encoders + 4 decoders, 64 channels,
# 7x7 kernels, BN after every conv, no biases, no decoder ReLU, pool indices for upsampling.
# Configs set num_classes, the input size (data_preprocessor.size) and the loss.
segnet = dict(arch="basic", num_stages=4, kernel_size=7)
data_preprocessor = dict(
    type="SegDataPreProcessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
)
model = dict(
    type="EncoderDecoder",
    data_preprocessor=data_preprocessor,
    backbone=dict(type="SegNetBackbone", in_channels=3, channels=64, **segnet),
    decode_head=dict(
        type="SegNetHead",
        in_channels=64,
        channels=64,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True),
        **segnet,
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)
