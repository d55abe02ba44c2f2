"""Mask R-CNN R50-FPN (detectron2) on ISBI 2012 cell instances, from scratch, CPU schedule.

Data: ``../shared/data/isbi2012/instances/{train,val}.json`` (24 / 6 slices of 512x512 EM,
1 class ``cell``, ~110 small cells per slice), registered by ``common/isbi2012_cells.py``.

Model: detectron2's packaged R50-FPN Mask R-CNN with GroupNorm backbone/FPN (no ImageNet
weights are available offline; GN trains from scratch, "Rethinking ImageNet Pre-training").
Same network, input size and schedule as ``configs/mask_rcnn/mask-rcnn_r50_fpn_gn-scratch_isbi2012.py``.

Schedule: CPU-sized -- 2 images/iter, slices resized 512 -> 256 px, 128 sampled RoIs per image
(paper: 512), SGD lr 0.01, 10 warm-up iterations, 40 iterations (~3 epochs of 24 slices) with
steps at 30/36 (~7 minutes on a 2-core CPU, 1 thread, ~10 s/iteration). Far shorter than any
real schedule: see docs/models/mask_rcnn.md for what it reaches (AP < 1 %).
Override on the command line, e.g. ``train.max_iter=3000 train.device=cuda``.
"""
from .common.isbi2012_cells import TRAIN, VAL
from .common.mask_rcnn_instances import instances_dataloader, make_scratch_gn, mask_rcnn_resnet_fpn, sgd_schedule

model = make_scratch_gn(mask_rcnn_resnet_fpn(num_classes=1))
# up to ~110 cells per slice: keep the COCO maxDets=100 budget filled
model.roi_heads.box_predictor.test_topk_per_image = 100
model.roi_heads.batch_size_per_image = 128  # CPU budget (paper/default: 512)

dataloader = instances_dataloader(TRAIN, VAL, train_size=(256,), test_size=256,
                                  max_size=256, total_batch_size=2, num_workers=0, vflip=True)

optimizer, lr_multiplier, train = sgd_schedule(max_iter=40, base_lr=0.01, steps=(30, 36), warmup_iters=10,
                                               output_dir='work_dirs/mask_rcnn_R_50_FPN_isbi2012')
