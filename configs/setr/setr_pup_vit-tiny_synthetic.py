# A tiny SETR-PUP (ViT with 64 dims, 4 layers, 4 heads, patch 16) on the synthetic shapes (128x128,
# 6 classes): runs in minutes on a 2-core CPU; for demos and smoke tests of the SETR code path.
_base_ = [
    "../_base_/models/setr_pup.py",
    "../_base_/datasets/synthetic.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_cpu_demo.py",
    "../_base_/tta/multiscale_flip.py",  # tools/test.py --tta, as the full-size SETR configs
]
crop_size = (128, 128)
num_classes = 6
norm_cfg = dict(type="BN", requires_grad=True)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch=None,
        img_size=crop_size,
        patch_size=16,
        embed_dim=64,
        depth=4,
        num_heads=4,
        mlp_ratio=4.0,
        out_indices=(0, 1, 2, 3),
        class_token=False,
    ),  # trained from scratch
    decode_head=dict(in_channels=64, channels=32, num_classes=num_classes, norm_cfg=norm_cfg),
    auxiliary_head=[
        dict(
            type="SETRPUPHead",
            in_channels=64,
            channels=32,
            in_index=i,
            num_classes=num_classes,
            num_convs=1,
            kernel_size=3,
            up_scale=4,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4),
        )
        for i in (0, 1, 2, 3)
    ],
)
