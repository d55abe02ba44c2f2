"""Mask R-CNN R50-FPN (detectron2) on voc_tiny: 3 Pascal VOC 2011 images, 20 VOC classes.

Data: ``../shared/data/voc_tiny/coco/annotations.json`` (labelme polygons, 12 instances).
Its category id 0 ``_background_`` is dropped at load time by
``segclassics.datasets.coco_checks`` (via ``register_checked_coco_instances``), leaving the
20 VOC thing classes. There is a single split: train and test both use the 3 images, so
this config is a smoke test of the data path and of COCOEvaluator (bbox + segm AP), not a
benchmark. Tiny CPU schedule (images resized to 256 px short edge, 20 iterations).
"""
import os

from segclassics.detectron2.coco_instances import register_checked_coco_instances

from .common.mask_rcnn_instances import instances_dataloader, make_scratch_gn, mask_rcnn_r50_fpn, sgd_schedule

VOC_CLASSES = ['aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable',
               'dog', 'horse', 'motorbike', 'person', 'potted plant', 'sheep', 'sofa', 'train', 'tv/monitor']
_root = os.path.join(os.environ.get('SEGCLASSICS_VOC_TINY', '../shared/data/voc_tiny'), 'coco')
register_checked_coco_instances('voc_tiny_instances', os.path.join(_root, 'annotations.json'), _root,
                                thing_classes=VOC_CLASSES, drop_category_names=('_background_',),
                                how_to_get='voc_tiny lives in ../shared/data/voc_tiny (or set SEGCLASSICS_VOC_TINY)')

model = make_scratch_gn(mask_rcnn_r50_fpn(num_classes=len(VOC_CLASSES)))

dataloader = instances_dataloader('voc_tiny_instances', 'voc_tiny_instances', train_size=(256,), test_size=256,
                                  max_size=400, total_batch_size=2, num_workers=0)

optimizer, lr_multiplier, train = sgd_schedule(max_iter=20, base_lr=0.01, steps=(15,), warmup_iters=5,
                                               output_dir='work_dirs/mask_rcnn_R_50_FPN_voc_tiny')
