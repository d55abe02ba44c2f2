"""Shared pieces of segclassics' detectron2 Mask R-CNN LazyConfigs (not a config by itself).

* ``mask_rcnn_r50_fpn(num_classes)``: detectron2's packaged model-zoo model
  (``common/models/mask_rcnn_fpn.py``: R50-FPN, RPN, RoIAlignV2 = aligned RoIAlign 7x7 box /
  14x14 mask poolers, 2fc box head, 4conv+deconv 28x28 mask head), only ``num_classes`` set.
* ``make_scratch_gn(model)``: the changes for training without ImageNet weights (no internet
  here): GroupNorm in the ResNet and FPN (He, Girshick, Dollar 2019, "Rethinking ImageNet
  Pre-training", Sec. 3) instead of FrozenBN, and per-channel std normalisation of the input.
  mmdet's ``configs/mask_rcnn/mask-rcnn_r50_fpn_gn-scratch_*`` do the same, so both
  frameworks train the same network.
* ``instances_dataloader(...)``: train/test loaders + ``COCOEvaluator`` (bbox + segm, against the
  cleaned json via ``checked_coco_evaluator``) for
  datasets registered by ``segclassics.detectron2.coco_instances``.
* ``sgd_schedule(...)``: SGD + linear warm-up + step decay, and the ``train`` dict (CPU).
"""

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.data import (
    DatasetMapper,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.model_zoo import get_config
from detectron2.solver import WarmupParamScheduler
from fvcore.common.param_scheduler import MultiStepParamScheduler
from omegaconf import OmegaConf

from segclassics.detectron2.coco_instances import checked_coco_evaluator


def mask_rcnn_r50_fpn(num_classes):
    """detectron2's own Mask R-CNN R50-FPN (model zoo ``common/models/mask_rcnn_fpn.py``)."""
    model = get_config("common/models/mask_rcnn_fpn.py").model
    model.roi_heads.num_classes = num_classes
    return model


def make_scratch_gn(model, num_groups=32):
    """GroupNorm ResNet + FPN and mean/std input normalisation, for training from scratch."""
    gn = "GN"  # detectron2.layers.get_norm: GroupNorm(32, C)
    model.backbone.bottom_up.stem.norm = gn
    model.backbone.bottom_up.stages.norm = gn
    model.backbone.bottom_up.stages.stride_in_1x1 = False  # torchvision/mmdet 'pytorch' style (stride in 3x3)
    model.backbone.bottom_up.freeze_at = 0
    model.backbone.norm = gn
    # ImageNet mean/std in 0..255, BGR order (mmdet: the same numbers in RGB order + bgr_to_rgb)
    model.pixel_mean = [103.530, 116.280, 123.675]
    model.pixel_std = [57.375, 57.120, 58.395]
    model.input_format = "BGR"
    return model


def instances_dataloader(
    train_names,
    test_names,
    train_size,
    test_size,
    max_size,
    total_batch_size=2,
    num_workers=0,
    vflip=False,
    crop_size=None,
):
    """Train/test loaders and a bbox+segm COCOEvaluator.

    Training: shortest-edge resize, then (``crop_size=(h, w)``) a random absolute crop whose boxes
    are recomputed from the cropped masks, then random flips (``vflip``: vertical ones too).
    """
    train_augs = [L(T.ResizeShortestEdge)(short_edge_length=train_size, max_size=max_size, sample_style="choice")]
    if crop_size is not None:
        train_augs.append(L(T.RandomCrop)(crop_type="absolute", crop_size=tuple(crop_size)))
    train_augs.append(L(T.RandomFlip)(horizontal=True, vertical=False))
    if vflip:
        train_augs.append(L(T.RandomFlip)(horizontal=False, vertical=True))
    dataloader = OmegaConf.create()
    dataloader.train = L(build_detection_train_loader)(
        dataset=L(get_detection_dataset_dicts)(names=train_names, filter_empty=True),
        mapper=L(DatasetMapper)(
            is_train=True,
            augmentations=train_augs,
            image_format="BGR",
            use_instance_mask=True,
            instance_mask_format="bitmask",
            recompute_boxes=crop_size is not None,
        ),
        total_batch_size=total_batch_size,
        num_workers=num_workers,
    )
    dataloader.test = L(build_detection_test_loader)(
        dataset=L(get_detection_dataset_dicts)(names=test_names, filter_empty=False),
        mapper=L(DatasetMapper)(
            is_train=False,
            augmentations=[L(T.ResizeShortestEdge)(short_edge_length=test_size, max_size=max_size)],
            image_format="BGR",
        ),
        num_workers=num_workers,
    )
    dataloader.evaluator = L(checked_coco_evaluator)(
        dataset_name="${..test.dataset.names}", tasks=("bbox", "segm"), output_dir=None
    )
    return dataloader


def sgd_schedule(
    max_iter,
    base_lr,
    steps,
    warmup_iters,
    output_dir,
    eval_period=0,
    checkpoint_period=None,
    weight_decay=1e-4,
    device="cpu",
):
    """Returns ``(optimizer, lr_multiplier, train)`` in lazyconfig_train_net.py's layout."""
    optimizer = get_config("common/optim.py").SGD
    optimizer.lr = base_lr
    optimizer.weight_decay = weight_decay
    lr_multiplier = L(WarmupParamScheduler)(
        scheduler=L(MultiStepParamScheduler)(
            values=[1.0, 0.1, 0.01][: len(steps) + 1], milestones=list(steps) + [max_iter]
        ),
        warmup_length=warmup_iters / max_iter,
        warmup_method="linear",
        warmup_factor=0.001,
    )
    train = get_config("common/train.py").train
    train.max_iter = max_iter
    train.output_dir = output_dir
    train.eval_period = eval_period or max_iter
    train.log_period = 10
    train.checkpointer = dict(period=checkpoint_period or max_iter, max_to_keep=2)
    train.init_checkpoint = ""
    train.device = device
    return optimizer, lr_multiplier, train
