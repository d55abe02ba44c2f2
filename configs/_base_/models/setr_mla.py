# SETR-MLA (Zheng et al., CVPR 2021, Sec. 3.3): ViT-L/16, 4 streams from Z^6, Z^12, Z^18, Z^24,
# MLA neck (LN, 1x1 conv, top-down addition, 3x3 conv) + head (2 x 3x3 conv per stream, concat,
# 4x up); auxiliary 1x1 classifiers on the 4 neck outputs (paper Sec. 4), weight 0.4.
_base_ = ["./setr_vit-l.py"]
norm_cfg = dict(type="SyncBN", requires_grad=True)
num_classes = 150


def _neck_classifier(in_index):
    return dict(
        type="SETRNaiveHead",
        in_channels=256,
        channels=256,
        in_index=in_index,
        num_classes=num_classes,
        num_convs=0,
        input_norm=False,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4),
    )


model = dict(
    backbone=dict(out_indices=(5, 11, 17, 23)),  # Z^6, Z^12, Z^18, Z^24
    neck=dict(type="SETRMLANeck", in_channels=[1024, 1024, 1024, 1024], out_channels=256, norm_cfg=norm_cfg),
    decode_head=dict(
        type="SETRMLADecodeHead",
        in_channels=(256, 256, 256, 256),
        channels=512,
        mla_channels=128,
        in_index=(0, 1, 2, 3),
        num_classes=num_classes,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    ),
    auxiliary_head=[_neck_classifier(i) for i in (0, 1, 2, 3)],
)
