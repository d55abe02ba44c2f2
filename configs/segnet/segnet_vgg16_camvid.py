# SegNet (Badrinarayanan et al., TPAMI 2017, Sec. 3): VGG16-BN encoder (13 conv + BN + ReLU, 2x2 max-pools
# that remember their argmax), mirrored decoder that upsamples with those indices; CamVid 11 classes,
# 360x480, median frequency balancing. 29.45M parameters.
# The paper initialises the encoder from ImageNet VGG16: download torchvision's vgg16_bn weights
# (https://download.pytorch.org/models/vgg16_bn-6c64b313.pth) and pass
#   --cfg-options model.backbone.pretrained=PATH/vgg16_bn-6c64b313.pth
# (converted on load by segclassics.models.vgg.convert_torchvision_vgg16, keys/shapes checked).
_base_ = ["./segnet_basic_camvid.py"]
model = dict(
    backbone=dict(_delete_=True, type="SegNetBackbone", in_channels=3, arch="vgg16", widths=None, pretrained=None),
    decode_head=dict(
        _delete_=True,
        type="SegNetHead",
        arch="vgg16",
        widths=None,
        in_channels=512,
        channels=64,
        num_classes={{_base_.num_classes}},
        ignore_index=255,
        loss_decode=dict(type="ClassWeightedCrossEntropyLoss", loss_weight=1.0, class_weight={{_base_.class_weight}}),
    ),
)
