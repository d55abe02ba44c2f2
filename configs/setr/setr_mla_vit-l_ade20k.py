# SETR-MLA, ViT-L/16, ADE20K (150 classes), 512x512 crops -- Zheng et al., CVPR 2021, Sec. 3.3 and 4:
# batch 16 = 8 GPUs x 2 (tools/dist_train.sh CONFIG 8), 160k iterations, SGD lr 0.001, momentum 0.9,
# weight decay 0, poly decay, auxiliary losses weight 0.4, sliding-window test (512, stride 341).
# ImageNet-21k pretrained ViT-L/16 (timm jx_vit_large_p16_384) is expected at
# checkpoints/jx_vit_large_p16_384-b3be5167.pth (timm, mmseg or official SETR keys are converted on
# load, position embedding resized). If the file is absent, training starts from random init with a
# loud warning: set model.backbone.pretrained=PATH (or pretrained_missing='error').
_base_ = [
    "../_base_/models/setr_mla.py",
    "../_base_/datasets/ade20k.py",
    "../_base_/default_runtime.py",
    "../_base_/schedules/schedule_setr_160k.py",
    "../_base_/tta/multiscale_flip.py",  # tools/test.py --tta: the paper's multi-scale + flip test
]
crop_size = (512, 512)
model = dict(
    backbone=dict(pretrained="checkpoints/jx_vit_large_p16_384-b3be5167.pth", pretrained_missing="warn"),
    test_cfg=dict(mode="slide", crop_size=crop_size, stride=(341, 341)),
)
train_dataloader = dict(batch_size=2)  # per GPU; x 8 GPUs = 16 (paper)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
