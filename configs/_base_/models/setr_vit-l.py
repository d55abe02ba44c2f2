# SETR encoder (Zheng et al., CVPR 2021, Sec. 3.1-3.2): ViT-L/16 (24 layers, 1024 dims, 16 heads)
# on 512x512 inputs, no final norm (the decoders read Z^l directly), bicubic position-embedding
# resize. The class token of the pretrained ViT stays in the sequence (as the official SETR and
# mmseg's SETR: dropping it changes the pretrained features); the maps exclude it. The decoders
# (setr_{naive,pup,mla}.py) inherit this file and choose the layers they read with `out_indices`.
norm_cfg = dict(type="SyncBN", requires_grad=True)  # plain BN in single-process runs
data_preprocessor = dict(
    type="SegDataPreProcessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512),
)
model = dict(
    type="EncoderDecoder",
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type="SETRViT",
        arch="vit_large_patch16",  # 24 layers, 1024 dims, 16 heads
        img_size=(512, 512),
        out_indices=(9, 14, 19, 23),  # Z^10, Z^15, Z^20, Z^24
        drop_rate=0.0,
        drop_path_rate=0.0,
        class_token=True,
        final_norm=False,
        interpolate_mode="bicubic",
        with_cp=False,
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)
