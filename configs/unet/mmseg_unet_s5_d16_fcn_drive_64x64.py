# Reference for benchmarks: mmseg's own UNet-S5-D16 + FCN head, CE + 3 x Dice (79.32 vessel Dice on
# DRIVE in mmseg's model zoo, 4 GPUs x 4 images, 40k iterations), with BN instead of SyncBN so it
# runs on one device / CPU. Compare with configs/unet/unet_same_drive_64x64.py via tools/benchmark.py.
_base_ = ["mmseg::unet/unet-s5-d16_fcn_4xb4-ce-1.0-dice-3.0-40k_drive-64x64.py"]
norm_cfg = dict(type="BN", requires_grad=True)
model = dict(
    backbone=dict(norm_cfg=norm_cfg), decode_head=dict(norm_cfg=norm_cfg), auxiliary_head=dict(norm_cfg=norm_cfg)
)
