# Test-time augmentation for tools/test.py --tta (ours and mmseg's): every test image is run at
# 0.5, 0.75, 1.0, 1.25, 1.5 and 1.75 times its size, each unflipped and flipped horizontally (12 views);
# tta_model (mmseg's SegTTAModel, set in ../default_runtime.py) averages the 12 score maps (each resized
# back to the image) and takes the argmax.
# This is the multi-scale + flip test SETR reports ("MS", Zheng et al., CVPR 2021, Tables 2-4) and
# mmseg's own SETR configs run (mmseg 1.x configs/_base_/datasets/ade20k.py, tta_pipeline).
# LoadAnnotations takes reduce_zero_label from the dataset, so one file serves every dataset.
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(
        type="TestTimeAug",
        transforms=[
            [dict(type="Resize", scale_factor=r, keep_ratio=True) for r in img_ratios],
            [
                dict(type="RandomFlip", prob=0.0, direction="horizontal"),
                dict(type="RandomFlip", prob=1.0, direction="horizontal"),
            ],
            [dict(type="LoadAnnotations")],
            [dict(type="PackSegInputs")],
        ],
    ),
]
