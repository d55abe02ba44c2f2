# SETR-Naive (Zheng et al., CVPR 2021, Sec. 3.3): ViT-L/16 + 1x1 conv-BN-ReLU-1x1 conv, bilinear
# upsampling of the logits; auxiliary heads on Z^10, Z^15, Z^20 (paper Sec. 4), weight 0.4.
_base_ = ["./setr_vit-l.py"]
norm_cfg = dict(type="SyncBN", requires_grad=True)
num_classes = 150


def _naive_head(in_index, loss_weight):
    return dict(
        type="SETRNaiveHead",
        in_channels=1024,
        channels=256,
        in_index=in_index,
        num_classes=num_classes,
        num_convs=1,
        kernel_size=1,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=loss_weight),
    )


model = dict(
    decode_head=_naive_head(in_index=3, loss_weight=1.0),
    auxiliary_head=[_naive_head(in_index=i, loss_weight=0.4) for i in (0, 1, 2)],
)
