# FCN-8s on a convolutionized VGG16 (Long, Shelhamer & Darrell, CVPR 2015), reference geometry:
# conv1_1 padded by 100, fc6 a 7x7 conv without padding, ceil-mode pools (Caffe), dropout 0.5
# after fc6/fc7, 1x1 score layers, bilinear transposed convolutions, crops 5/9/31.
# Set decode_head.variant='32s' / '16s' for the coarser nets (they use fc7 / pool4+fc7 only).
# Input normalisation is torchvision's (the converter reads torchvision's ImageNet VGG16); for the
# original Caffe VGG16 use mean=[103.939, 116.779, 123.68] (BGR), std=[1, 1, 1], bgr_to_rgb=False.
# No tta_pipeline: the FCN paper evaluates one pass at the image's own size, without flipping or
# rescaling (Sec. 4-5), so FCN configs are tested as the paper did and tools/test.py --tta refuses them.
data_preprocessor = dict(
    type="SegDataPreProcessor",
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=1,
)  # batch 1 of whole images: no padding (mmseg needs size or size_divisor to stack)
model = dict(
    type="EncoderDecoder",
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type="VGG16",  # segclassics.mmseg.vgg16_backbone
        in_channels=3,
        norm=None,
        with_fc=True,
        out_indices=("pool3", "pool4", "fc7"),
        conv1_1_padding=100,
        fc6_padding=0,
        ceil_mode=True,
        dropout=0.5,
        pretrained=None,
    ),
    decode_head=dict(
        # segclassics.mmseg.fcn_skip_head (not mmseg's dilated FCNHead)
        type="FCNSkipHead",
        variant="8s",
        mode="caffe",
        at_once=False,
        learn_final_upsample=False,
        learn_intermediate_upsample=True,
        in_channels=[256, 512, 4096],
        in_index=[0, 1, 2],
        num_classes=21,
        ignore_index=255,
        align_corners=False,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="whole"),
)
