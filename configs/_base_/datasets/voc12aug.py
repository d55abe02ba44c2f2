# PASCAL VOC 2012 + SBD "aug" (10582 train images, 1449 val), mmseg's layout and dataset type.
# Prepare with mmseg's tools/dataset_converters/voc_aug.py (VOCdevkit + SBD's benchmark_RELEASE)
# so that data/VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,SegmentationClassAug,
# ImageSets/Segmentation/{train,val,aug}.txt} exist. Elsewhere:
#   --cfg-options data_root=DIR (moves every dataloader, both parts of the train concatenation too)
# Pipeline as FCN (Long et al., CVPR 2015, Sec. 4.3): whole images (VOC images are at most
# 500x500), no resizing, no cropping, no mirroring/jitter ("yielded no noticeable improvement"),
# batch 1 so no padding is needed.
dataset_type = "PascalVOCDataset"
data_root = "data/VOCdevkit/VOC2012"
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="PackSegInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="PackSegInputs"),
]
dataset_train = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path="JPEGImages", seg_map_path="SegmentationClass"),
    ann_file="ImageSets/Segmentation/train.txt",
    pipeline=train_pipeline,
)
dataset_aug = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path="JPEGImages", seg_map_path="SegmentationClassAug"),
    ann_file="ImageSets/Segmentation/aug.txt",
    pipeline=train_pipeline,
)
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(type="ConcatDataset", datasets=[dataset_train, dataset_aug]),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path="JPEGImages", seg_map_path="SegmentationClass"),
        ann_file="ImageSets/Segmentation/val.txt",
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
# aAcc (pixel accuracy), mAcc (mean accuracy) and mIoU (mean IU) of FCN's Table 3; f.w. IU is not reported.
val_evaluator = dict(type="IoUMetric", iou_metrics=["mIoU"])
test_evaluator = val_evaluator
