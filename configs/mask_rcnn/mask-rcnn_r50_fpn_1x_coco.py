# Mask R-CNN R50-FPN 1x on COCO 2017 (He et al. 2017): mmdet's packaged config, unchanged
# model/schedule (ImageNet-pretrained R50 from torchvision -- needs internet or a local copy),
# with the data read through segclassics' checked COCO dataset/metric (bad annotations
# skipped with a logged count, missing images -> clear error). data_root: data/coco/.
_base_ = "mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py"

default_scope = "mmdet"
custom_imports = dict(imports=["segclassics.mmdet"], allow_failed_imports=False)

data_root = "data/coco/"
train_dataloader = dict(dataset=dict(type="CheckedCocoDataset", data_root=data_root))
val_dataloader = dict(dataset=dict(type="CheckedCocoDataset", data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(
    type="CheckedCocoMetric",
    ann_file=data_root + "annotations/instances_val2017.json",
    image_root=data_root + "val2017/",
    metric=["bbox", "segm"],
)
test_evaluator = val_evaluator
