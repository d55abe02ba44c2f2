# FCN-32s VGG16 with the CVPR 2015 recipe (Sec. 4.3): SGD momentum 0.9, minibatch 20 images,
# fixed lr 1e-4, weight decay 5e-4, biases at 2x lr, dropout kept. Whole images of different sizes
# are not padded into one batch: the minibatch of 20 is 20 accumulated single-image steps (Caffe
# iter_size). The loss is the per-pixel mean (our reading: the 1e-4 lr belongs to a normalised
# loss; the released 1e-10 recipe states "lr for unnormalized softmax").
# The paper gives no iteration count; 10k minibatches (200k images, ~19 epochs of VOC aug) is ours.
_base_ = "./fcn32s_vgg16_voc12aug.py"
model = dict(
    decode_head=dict(
        loss_decode=dict(
            _delete_=True, type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True
        )
    )
)
optim_wrapper = dict(optimizer=dict(lr=1e-4, momentum=0.9), accumulative_counts=20)
train_cfg = dict(max_iters=200000, val_interval=20000)
default_hooks = dict(checkpoint=dict(interval=20000))
