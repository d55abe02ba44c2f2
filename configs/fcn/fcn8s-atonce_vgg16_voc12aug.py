# FCN-8s VGG16 trained "all-at-once" (PAMI 2017, Sec. 4.3; reference voc-fcn8s-atonce): straight from
# ImageNet VGG16, pool4 scaled by 0.01 and pool3 by 0.0001 before their score layers, lr 1e-10,
# momentum 0.99, batch 1, unnormalised loss, 300k iterations, all upsampling fixed bilinear (net.py).
_base_ = "./fcn32s_vgg16_voc12aug.py"
model = dict(decode_head=dict(variant="8s", at_once=True, learn_intermediate_upsample=False))
train_cfg = dict(max_iters=300000)
