# Smoke test of the VOC pipeline on ../shared/data/voc_tiny/voc (3 real VOC 2011 images with
# 21-class labels, 255 = ignore): the paper's FCN-8s (at-once, reference geometry) trained and
# evaluated on the same 3 images for a few iterations. Only checks that real VOC-style data
# flows through the network; it measures nothing about the paper's accuracy.
# The folder has no ImageSets/*.txt, so mmseg's generic BaseSegDataset (file-name pairing) with
# PASCAL VOC's class names is used instead of PascalVOCDataset.
_base_ = "./fcn8s-atonce_vgg16_voc12aug.py"
data_root = "{{ fileDirname }}/../../../shared/data/voc_tiny/voc"  # beside the checkout
# segclassics.datasets.voc.CLASSES (an mmengine config cannot import it; tests/test_voc_classes.py
# checks that the two are equal)
voc_metainfo = dict(
    classes=(
        "background",
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
        "pottedplant",
        "sheep",
        "sofa",
        "train",
        "tvmonitor",
    )
)
voc_tiny = dict(
    type="BaseSegDataset",
    metainfo=voc_metainfo,
    data_root=data_root,
    data_prefix=dict(img_path="images", seg_map_path="SegmentationClass"),
    img_suffix=".jpg",
    seg_map_suffix=".png",
    pipeline={{_base_.train_pipeline}},
)
train_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(_delete_=True, **voc_tiny))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(_delete_=True, **voc_tiny))
test_dataloader = val_dataloader
model = dict(backbone=dict(pretrained=None))  # no ImageNet weights needed for a smoke test
train_cfg = dict(max_iters=6, val_interval=6)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=6))
