# Benchmark pair (tools/benchmark.py): mmseg's own SETR-PUP parts (VisionTransformer, SETRUPHead) with the
# same architecture as setr_pup_vit-b_256_ours.py: ViT-B/16 at 256x256, no cls token, LN eps 1e-6,
# PUP head (4 x conv3x3-BN-ReLU-up2) + 4 auxiliary heads (conv3x3-BN-ReLU-up4), 150 classes, BN.
_base_ = ["../setr_pup_vit-l_ade20k.py"]
norm_cfg = dict(type="BN", requires_grad=True)
_outs = (4, 7, 9, 11)
model = dict(
    data_preprocessor=dict(size=(256, 256)),
    backbone=dict(
        _delete_=True,
        type="VisionTransformer",
        img_size=(256, 256),
        patch_size=16,
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        out_indices=_outs,
        with_cls_token=False,
        norm_cfg=dict(type="LN", eps=1e-6),
        interpolate_mode="bicubic",
        with_cp=False,
    ),
    decode_head=dict(
        _delete_=True,
        type="SETRUPHead",
        in_channels=768,
        channels=256,
        in_index=3,
        num_classes=150,
        dropout_ratio=0,
        norm_cfg=norm_cfg,
        num_convs=4,
        up_scale=2,
        kernel_size=3,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    ),
    auxiliary_head=[
        dict(
            type="SETRUPHead",
            in_channels=768,
            channels=256,
            in_index=i,
            num_classes=150,
            dropout_ratio=0,
            norm_cfg=norm_cfg,
            num_convs=1,
            up_scale=4,
            kernel_size=3,
            align_corners=False,
            loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4),
        )
        for i in range(4)
    ],
    test_cfg=dict(_delete_=True, mode="whole"),
)
