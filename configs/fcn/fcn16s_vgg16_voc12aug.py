# FCN-16s VGG16, reference staged recipe (voc-fcn16s): initialised from the trained FCN-32s
# (score_pool4 zero-initialised so the net starts with FCN-32s' predictions, CVPR Sec. 4.2),
# lr 1e-12 (the 32s lr / 100), momentum 0.99, 100k iterations. The released net keeps its 2x
# upsampling fixed to bilinear (lr_mult 0); the CVPR text learns it (learn_intermediate_upsample=True).
_base_ = "./fcn32s_vgg16_voc12aug.py"
model = dict(
    backbone=dict(pretrained=None),  # weights come from load_from
    decode_head=dict(variant="16s", learn_intermediate_upsample=False),
)
# last FCN-32s checkpoint (mmengine loads it non-strictly: the new score_pool4 / upscore16 keep their init)
load_from = "work_dirs/fcn32s_vgg16_voc12aug/iter_100000.pth"
optim_wrapper = dict(optimizer=dict(lr=1e-12))
