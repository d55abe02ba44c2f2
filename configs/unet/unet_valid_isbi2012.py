# The paper's UNet setting on the ISBI 2012 EM segmentation data (Ronneberger et al. 2015):
# Sec. 2 valid convolutions, 572x572 input tiles -> 388x388 outputs, depth 5; Fig. 2 overlap-tile
# inference with mirror padding; Sec. 3 softmax + cross-entropy weighted by the border weight map
# (w0 = 10, sigma = 5 px), batch 1 large tiles, SGD momentum 0.99, Gaussian init sqrt(2/N);
# Sec. 3.1 elastic deformation (3x3 grid, sigma 10 px) and drop-out at the end of the contracting path.
# Data: ../shared/data/isbi2012 (slices 0-23 train, 24-29 val; the challenge's test labels are not public).
# Width: base_channels=64, the paper's 31.0M-parameter net (a GPU run); unet_valid_isbi2012_cpu.py is
# the narrow variant for a CPU.
_base_ = ["../_base_/default_runtime.py"]
base_channels, depth = 64, 5
border = 92  # (572 - 388) / 2
tile = (572, 572)
data_root = "{{ fileDirname }}/../../../shared/data/isbi2012"  # beside the checkout
data_preprocessor = dict(
    type="SegDataPreProcessor", mean=[127.5], std=[127.5], bgr_to_rgb=False, pad_val=0, seg_pad_val=255, size=tile
)  # = the training crop: nothing padded
model = dict(
    type="OverlapTileEncoderDecoder",
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type="PaperUNetEncoder",
        in_channels=1,
        base_channels=base_channels,
        depth=depth,
        padding="valid",
        norm=None,
        dropout=0.5,
    ),
    decode_head=dict(
        type="PaperUNetHead",
        in_channels=[base_channels * 2**i for i in range(depth)],
        num_classes=2,  # 0 membrane, 1 cell interior
        base_channels=base_channels,
        depth=depth,
        padding="valid",
        norm=None,
        loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode="overlap_tile", tile_size=tile, batch_tiles=1),
)

train_pipeline = [
    dict(type="LoadImageFromFile", color_type="grayscale"),
    dict(type="LoadAnnotations"),
    dict(type="ElasticDeformation", sigma=10, grid=3, prob=1.0),
    dict(type="UNetWeightMap", w0=10.0, sigma=5.0, num_classes=2, foreground=1, background=0),
    dict(type="RandomFlip", prob=0.5, direction=["horizontal", "vertical"]),
    dict(type="MirrorPadBorder", border=border),
    dict(type="RandomCrop", crop_size=tile),
    dict(type="PackSegInputsWithWeight"),
]
test_pipeline = [
    dict(type="LoadImageFromFile", color_type="grayscale"),
    dict(type="LoadAnnotations"),
    dict(type="PackSegInputsWithWeight"),
]
train_dataloader = dict(
    batch_size=1,  # paper: batch of a single large tile
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(type="ISBI2012Dataset", data_root=data_root, slices=list(range(0, 24)), pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(type="ISBI2012Dataset", data_root=data_root, slices=list(range(24, 30)), pipeline=test_pipeline),
)
test_dataloader = val_dataloader
# tools/test.py --tta: the paper's ISBI entry averaged the network's output over rotated versions of
# each image (Sec. 4, Table 1: "averaged over 7 rotated versions"). Here the eight rotations and
# reflections of the image (quarter turns k = 0-3, each as it is and flipped left-right): Rot90 turns the
# view, the segmentor undoes the flip and SegRot90TTAModel the turn before averaging the softmax scores.
tta_pipeline = [
    dict(type="LoadImageFromFile", color_type="grayscale"),
    dict(
        type="TestTimeAug",
        transforms=[
            [dict(type="Rot90", k=k) for k in range(4)],
            [
                dict(type="RandomFlip", prob=0.0, direction="horizontal"),
                dict(type="RandomFlip", prob=1.0, direction="horizontal"),
            ],
            [dict(type="LoadAnnotations")],
            [dict(type="PackSegInputsWithWeight")],
        ],
    ),
]
tta_model = dict(type="SegRot90TTAModel")
# pixel, Rand and warping errors as in the ISBI challenge (cells = 4-connected components of class 1)
val_evaluator = dict(type="BinarySegMetric", positive=1, fov_key=None, rand=True, warping=True)
test_evaluator = val_evaluator

max_iters = 2000
optimizer = dict(type="SGD", lr=0.01, momentum=0.99, weight_decay=0.0)  # paper: momentum 0.99
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer, clip_grad=dict(max_norm=10.0))
param_scheduler = [dict(type="PolyLR", eta_min=1e-5, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=max_iters),
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="SegVisualizationHook"),
)
