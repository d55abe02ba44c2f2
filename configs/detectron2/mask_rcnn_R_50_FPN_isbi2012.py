"""Mask R-CNN R50-FPN (detectron2) on ISBI 2012 cell instances, from scratch.

Same network, data and schedule as ``configs/mask_rcnn/mask-rcnn_r50_fpn_gn-scratch_isbi2012.py``
(mmdet). The measured CPU reproduction is its ResNet-18 variant, ``mask_rcnn_R_18_FPN_isbi2012.py``
(docs/models/mask_rcnn.md).

Model: detectron2's packaged R50-FPN Mask R-CNN (RPN, aligned RoIAlign 7x7 / 14x14, 2fc box head,
4conv + deconv mask head predicting K=1 28x28 sigmoid masks) with GroupNorm backbone/FPN (no
ImageNet weights are available offline; GN trains from scratch, "Rethinking ImageNet
Pre-training"); anchors 16..256 px (one octave below COCO's 32..512) because ISBI cells are
small: median box ~32 px, 10 % of them < 12 px across; 128 sampled RoIs per image (paper: 512).

Data (registered by ``import segclassics.detectron2``, names in ``common/isbi2012_cells.py``): the
512x512 slices at full resolution (resizing them would shrink small cells below the P2 stride),
random 256x256 crops with boxes recomputed from the cropped masks, random horizontal / vertical flips,
4 crops per iteration;
evaluation on the 6 whole val slices, COCO bbox + segm AP with maxDets 100, 100 detections per
image.

Schedule: SGD lr 0.02, momentum 0.9, weight decay 1e-4 (none on norms), 50 linear warm-up
iterations, 600 iterations (100 epochs of 24 slices, counted in crops), lr x0.1 at 450 and 550,
evaluation + checkpoint every 150 iterations. Override on the command line, e.g.
``train.max_iter=3000 train.device=cuda``.
"""

from .common.isbi2012_cells import TRAIN, VAL
from .common.mask_rcnn_instances import instances_dataloader, make_scratch_gn, mask_rcnn_r50_fpn, sgd_schedule

model = make_scratch_gn(mask_rcnn_r50_fpn(num_classes=1))
model.proposal_generator.anchor_generator.sizes = [[16], [32], [64], [128], [256]]
model.roi_heads.batch_size_per_image = 128  # CPU budget (paper/default: 512)
model.roi_heads.box_predictor.test_topk_per_image = 100  # ~110 cells per slice: fill COCO's maxDets=100

dataloader = instances_dataloader(
    TRAIN,
    VAL,
    train_size=(512,),
    test_size=512,
    max_size=512,
    total_batch_size=4,
    num_workers=0,
    vflip=True,
    crop_size=(256, 256),
)

optimizer, lr_multiplier, train = sgd_schedule(
    max_iter=600,
    base_lr=0.02,
    steps=(450, 550),
    warmup_iters=50,
    eval_period=150,
    checkpoint_period=150,
    output_dir="work_dirs/mask_rcnn_R_50_FPN_isbi2012",
)
