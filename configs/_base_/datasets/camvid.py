# CamVid, SegNet's 11 classes (train 367 / val 101 / test 233, 480x360).
# Default location: ../shared/data/camvid beside the checkout, from any current directory (mmengine
# replaces {{ fileDirname }} with this file's folder; layout written by tools/dataset_converters/camvid.py:
# images/{train,val,test}/*.jpg, labels/{train,val,test}/*.png with void = 11; CamVidDataset maps 11 -> 255).
# Elsewhere: --cfg-options data_root=DIR (moves the train, val and test dataloaders)
dataset_type = "CamVidDataset"
data_root = "{{ fileDirname }}/../../../../shared/data/camvid"
crop_size = (360, 480)  # (H, W): the full SegNet-benchmark image, no cropping
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackSegInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="PackSegInputs"),
]
train_dataloader = dict(
    batch_size=12,  # SegNet Sec. 3.2: mini-batches of 12 images
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path="images/train", seg_map_path="labels/train"),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path="images/val", seg_map_path="labels/val"),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
# SegNet's metrics: global accuracy G, class-average accuracy C, mIoU, boundary F1 (BF).
val_evaluator = dict(type="SegNetMetric")
test_evaluator = val_evaluator
