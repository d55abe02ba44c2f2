# SETR-PUP (Zheng et al., CVPR 2021, Sec. 3.3): ViT-L/16 encoder + progressive upsampling decoder,
# auxiliary heads on Z^10, Z^15, Z^20, Z^24 (paper Sec. 4) with weight 0.4.
norm_cfg = dict(type='SyncBN', requires_grad=True)  # plain BN in single-process runs
num_classes = 150
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='SETRViT',
        arch='vit_large_patch16',          # 24 layers, 1024 dims, 16 heads
        img_size=(512, 512),
        out_indices=(9, 14, 19, 23),       # Z^10, Z^15, Z^20, Z^24
        drop_rate=0.0,
        drop_path_rate=0.0,
        class_token=False,
        final_norm=False,
        interpolate_mode='bicubic',
        with_cp=False),
    decode_head=dict(
        type='SETRPUPHead', in_channels=1024, channels=256, in_index=3, num_classes=num_classes,
        num_convs=4, kernel_size=3, up_scale=2, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=[
        dict(type='SETRPUPHead', in_channels=1024, channels=256, in_index=0, num_classes=num_classes,
             num_convs=1, kernel_size=3, up_scale=4, norm_cfg=norm_cfg, align_corners=False,
             loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
        dict(type='SETRPUPHead', in_channels=1024, channels=256, in_index=1, num_classes=num_classes,
             num_convs=1, kernel_size=3, up_scale=4, norm_cfg=norm_cfg, align_corners=False,
             loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
        dict(type='SETRPUPHead', in_channels=1024, channels=256, in_index=2, num_classes=num_classes,
             num_convs=1, kernel_size=3, up_scale=4, norm_cfg=norm_cfg, align_corners=False,
             loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
        dict(type='SETRPUPHead', in_channels=1024, channels=256, in_index=3, num_classes=num_classes,
             num_convs=1, kernel_size=3, up_scale=4, norm_cfg=norm_cfg, align_corners=False,
             loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    ],
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
