# Mixing: segclassics' VGG16 backbone (registered in mmseg's MODELS) with mmseg's own
# ASPPHead (DeepLab v3) on the synthetic shapes. Nothing else changes: mmseg's
# EncoderDecoder, losses, data pipeline and runner train it.
_base_ = [
    "../_base_/default_runtime.py",
    "../_base_/datasets/synthetic.py",
    "../_base_/schedules/schedule_cpu_demo.py",
]
model = dict(
    type="EncoderDecoder",
    data_preprocessor=dict(
        type="SegDataPreProcessor",
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(128, 128),
    ),
    backbone=dict(type="VGG16", with_fc=False, out_indices=("pool4", "pool5")),  # segclassics
    decode_head=dict(
        type="ASPPHead",
        in_channels=512,
        in_index=1,
        channels=128,  # mmseg
        dilations=(1, 2, 3, 4),
        num_classes=6,
        dropout_ratio=0.1,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)
