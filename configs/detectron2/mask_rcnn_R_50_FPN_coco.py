"""Mask R-CNN R50-FPN 1x (detectron2) on COCO 2017, as in He et al. 2017 / detectron2's model zoo.

Exactly detectron2's packaged ``COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.py``
(ImageNet-pretrained R50 with FrozenBN, 90k iterations x 16 images, multi-scale 640-800
training, COCOEvaluator bbox + segm), except that the data are read through segclassics'
checked COCO registration from ``data/coco`` (the mmdet layout:
``annotations/instances_{train,val}2017.json``, ``{train,val}2017/``), so mmdet's and this
config read the same folder. Needs a GPU (``train.device='cuda'``, the default here) and the
ImageNet weights ``detectron2://ImageNetPretrained/MSRA/R-50.pkl`` (downloaded by
detectron2; not available offline).
"""

from detectron2.config import LazyCall as L
from detectron2.model_zoo import get_config

from segclassics.detectron2.coco_instances import checked_coco_evaluator
from segclassics.detectron2.instance_datasets import COCO_TRAIN, COCO_VAL

_cfg = get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.py")
model, dataloader, optimizer, lr_multiplier, train = (
    _cfg.model,
    _cfg.dataloader,
    _cfg.optimizer,
    _cfg.lr_multiplier,
    _cfg.train,
)

dataloader.train.dataset.names = COCO_TRAIN  # registered by import segclassics.detectron2 (SEGCLASSICS_COCO)
dataloader.test.dataset.names = COCO_VAL
dataloader.evaluator = L(checked_coco_evaluator)(dataset_name="${..test.dataset.names}", tasks=("bbox", "segm"))
train.output_dir = "work_dirs/mask_rcnn_R_50_FPN_coco"
