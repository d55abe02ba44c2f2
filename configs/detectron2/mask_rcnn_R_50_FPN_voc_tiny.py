"""Mask R-CNN R50-FPN (detectron2) on voc_tiny: 3 Pascal VOC 2011 images, 20 VOC classes.

Data: ``../shared/data/voc_tiny/coco/annotations.json`` (labelme polygons, 12 instances).
Registered as ``voc_tiny_instances`` by ``import segclassics.detectron2``
(``segclassics.detectron2.instance_datasets``; ``SEGCLASSICS_VOC_TINY`` moves it). Its category id 0
``_background_`` is dropped at load time by ``segclassics.datasets.coco_checks``, leaving the
20 VOC thing classes. There is a single split: train and test both use the 3 images, so
this config is a smoke test of the data path and of COCOEvaluator (bbox + segm AP), not a
benchmark. Tiny CPU schedule (images resized to 256 px short edge, 20 iterations).
"""

from segclassics.detectron2.instance_datasets import VOC_TINY
from segclassics.detectron2.instance_datasets import VOC_TINY_CLASSES as VOC_CLASSES

from .common.mask_rcnn_instances import instances_dataloader, make_scratch_gn, mask_rcnn_r50_fpn, sgd_schedule

model = make_scratch_gn(mask_rcnn_r50_fpn(num_classes=len(VOC_CLASSES)))

dataloader = instances_dataloader(
    VOC_TINY, VOC_TINY, train_size=(256,), test_size=256, max_size=400, total_batch_size=2, num_workers=0
)

optimizer, lr_multiplier, train = sgd_schedule(
    max_iter=20, base_lr=0.01, steps=(15,), warmup_iters=5, output_dir="work_dirs/mask_rcnn_R_50_FPN_voc_tiny"
)
