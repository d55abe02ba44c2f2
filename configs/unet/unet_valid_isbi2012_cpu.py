# CPU-scale variant of unet_valid_isbi2012.py, the run reported in docs/models/unet.md: the same
# valid depth-5 network, weight map, elastic deformation, batch 1 and overlap-tile inference, but
# base 8 channels (paper 64), 380x380 input tiles (-> 196x196 outputs; paper 572 -> 388),
# AdamW instead of SGD momentum 0.99 (a few hundred iterations only), 400 iterations.
_base_ = ["./unet_valid_isbi2012.py"]
base_channels = 8
tile = (380, 380)
model = dict(
    data_preprocessor=dict(size=tile),
    backbone=dict(base_channels=base_channels),
    decode_head=dict(in_channels=[base_channels * 2**i for i in range(5)], base_channels=base_channels),
    test_cfg=dict(tile_size=tile, batch_tiles=2),
)
train_pipeline = [
    dict(type="LoadImageFromFile", color_type="grayscale"),
    dict(type="LoadAnnotations"),
    dict(type="ElasticDeformation", sigma=10, grid=3, prob=1.0),
    dict(type="UNetWeightMap", w0=10.0, sigma=5.0, num_classes=2, foreground=1, background=0),
    dict(type="RandomFlip", prob=0.5, direction=["horizontal", "vertical"]),
    dict(type="MirrorPadBorder", border=92),
    dict(type="RandomCrop", crop_size=tile),
    dict(type="PackSegInputsWithWeight"),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
max_iters = 400
optimizer = dict(type="AdamW", lr=1e-3, weight_decay=1e-4, _delete_=True)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [dict(type="PolyLR", eta_min=1e-5, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=200)
default_hooks = dict(checkpoint=dict(interval=200))
