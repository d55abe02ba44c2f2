# FCN-8s VGG16, reference staged recipe (voc-fcn8s): initialised from the trained FCN-16s,
# score_pool3 zero-initialised, lr 1e-14, momentum 0.99, 100k iterations, unnormalised loss.
# For the single-stage alternative see fcn8s-atonce_vgg16_voc12aug.py.
_base_ = "./fcn32s_vgg16_voc12aug.py"
model = dict(backbone=dict(pretrained=None), decode_head=dict(variant="8s", learn_intermediate_upsample=False))
load_from = "work_dirs/fcn16s_vgg16_voc12aug/iter_100000.pth"
optim_wrapper = dict(optimizer=dict(lr=1e-14))
