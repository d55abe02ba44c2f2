# Benchmark pair (tools/benchmark.py): segclassics' SETR-PUP with a ViT-B/16 encoder at 256x256,
# 150 classes, BN, 4 auxiliary heads. Same layers and parameter count as
# setr_pup_vit-b_256_mmseg.py, which uses mmseg's VisionTransformer + SETRUPHead. E.g.
#   python tools/benchmark.py configs/setr/benchmark/setr_pup_vit-b_256_{mmseg,ours}.py --shape 256 256 --batch 2
_base_ = ["../setr_pup_vit-l_ade20k.py"]
norm_cfg = dict(type="BN", requires_grad=True)
_outs = (4, 7, 9, 11)  # Z^10, Z^15, Z^20, Z^24 of ViT-L scaled to 12 layers
model = dict(
    data_preprocessor=dict(size=(256, 256)),
    backbone=dict(
        _delete_=True, type="SETRViT", arch="vit_base_patch16", img_size=(256, 256), out_indices=_outs, with_cp=False
    ),
    decode_head=dict(in_channels=768, norm_cfg=norm_cfg),
    auxiliary_head=[
        dict(
            type="SETRPUPHead",
            in_channels=768,
            channels=256,
            in_index=i,
            num_classes=150,
            num_convs=1,
            kernel_size=3,
            up_scale=4,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4),
        )
        for i in range(4)
    ],
    test_cfg=dict(_delete_=True, mode="whole"),
)
