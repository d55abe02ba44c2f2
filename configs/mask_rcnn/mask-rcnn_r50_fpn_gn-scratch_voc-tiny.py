# Mask R-CNN R50-FPN (mmdet) on voc_tiny: 3 Pascal VOC 2011 images, 20 VOC classes.
#
# ../shared/data/voc_tiny/coco/annotations.json (labelme polygons, 12 instances); its category
# id 0 `_background_` is dropped at load time by CheckedCocoDataset. Single split: train and
# test both use the 3 images -- a smoke test of the data path and of COCO bbox/segm AP, not a
# benchmark. Same scratch-GN network as the ISBI config (with COCO's anchors); tiny CPU schedule
# (256 px, 2 images/iteration, 20 iterations).
_base_ = "./mask-rcnn_r50_fpn_gn-scratch_isbi2012.py"

model = dict(
    rpn_head=dict(anchor_generator=dict(scales=[8])),  # COCO's 32..512 px anchors: VOC objects are large
    roi_head=dict(bbox_head=dict(num_classes=20), mask_head=dict(num_classes=20)),
)
data_root = "{{ fileDirname }}/../../../shared/data/voc_tiny/coco/"  # beside the checkout
# segclassics.datasets.voc.LABELME_THING_CLASSES (the json's spelling) and PALETTE[1:] (an mmengine
# config cannot import them; tests/test_voc_classes.py checks that they are equal)
metainfo = dict(
    classes=(
        "aeroplane",
        "bicycle",
        "bird",
        "boat",
        "bottle",
        "bus",
        "car",
        "cat",
        "chair",
        "cow",
        "diningtable",
        "dog",
        "horse",
        "motorbike",
        "person",
        "potted plant",
        "sheep",
        "sofa",
        "train",
        "tv/monitor",
    ),
    # Pascal VOC's label colours (classes 1..20); replaces the 1-entry ISBI palette
    palette=[
        (128, 0, 0),
        (0, 128, 0),
        (128, 128, 0),
        (0, 0, 128),
        (128, 0, 128),
        (0, 128, 128),
        (128, 128, 128),
        (64, 0, 0),
        (192, 0, 0),
        (64, 128, 0),
        (192, 128, 0),
        (64, 0, 128),
        (192, 0, 128),
        (64, 128, 128),
        (192, 128, 128),
        (0, 64, 0),
        (128, 64, 0),
        (0, 192, 0),
        (128, 192, 0),
        (0, 64, 128),
    ],
)
img_scale = (400, 256)
train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="Resize", scale=img_scale, keep_ratio=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackDetInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=img_scale, keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="PackDetInputs", meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor")),
]
_dataset = dict(
    type="CheckedCocoDataset",
    data_root=data_root,
    metainfo=metainfo,
    ann_file="annotations.json",
    data_prefix=dict(img=""),
    drop_category_names=["_background_"],
)
train_dataloader = dict(batch_size=2, dataset=dict(_dataset, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(_dataset, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(
    type="CheckedCocoMetric",
    ann_file=data_root + "annotations.json",
    image_root=data_root,
    drop_category_names=["_background_"],
    metric=["bbox", "segm"],
    proposal_nums=(1, 10, 100),
)
test_evaluator = val_evaluator

max_iters = 20
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=5),
    dict(type="MultiStepLR", begin=0, end=max_iters, by_epoch=False, milestones=[15], gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(checkpoint=dict(interval=max_iters))
