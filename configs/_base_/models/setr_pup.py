# SETR-PUP (Zheng et al., CVPR 2021, Sec. 3.3): ViT-L/16 encoder + progressive upsampling decoder
# (4 x [3x3 conv-BN-ReLU, x2 bilinear]), auxiliary heads on Z^10, Z^15, Z^20, Z^24 (paper Sec. 4)
# with weight 0.4.
_base_ = ["./setr_vit-l.py"]
norm_cfg = dict(type="SyncBN", requires_grad=True)
num_classes = 150


def _pup_head(in_index, num_convs, up_scale, loss_weight):
    return dict(
        type="SETRPUPHead",
        in_channels=1024,
        channels=256,
        in_index=in_index,
        num_classes=num_classes,
        num_convs=num_convs,
        kernel_size=3,
        up_scale=up_scale,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=loss_weight),
    )


model = dict(
    decode_head=_pup_head(in_index=3, num_convs=4, up_scale=2, loss_weight=1.0),
    auxiliary_head=[_pup_head(in_index=i, num_convs=1, up_scale=4, loss_weight=0.4) for i in (0, 1, 2, 3)],
)
