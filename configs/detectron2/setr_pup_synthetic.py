"""SETR-PUP (Zheng et al., CVPR 2021, Sec. 3.3) in detectron2 on the synthetic shapes, CPU demo size:
a tiny ViT (64 dims, 4 layers, 4 heads, patch 16) and the PUP decoder with auxiliary losses on all
4 layers (the paper's Z^10, Z^15, Z^20, Z^24 scaled down). Same parts as
configs/setr/setr_pup_vit-tiny_synthetic.py (mmseg). For ViT-L use embed_dim=1024, depth=24,
num_heads=16, out_indices=(9, 14, 19, 23)."""

from detectron2.config import LazyCall as L
from detectron2.modeling import SemanticSegmentor

from segclassics.detectron2.setr_head import SETRSemSegHead
from segclassics.detectron2.vit_backbone import SETRViTBackbone

from .common.schedule_cpu_demo import lr_multiplier, optimizer, train  # noqa: F401
from .common.semseg_synthetic import dataloader  # noqa: F401

_feats = ("layer1", "layer2", "layer3", "layer4")
model = L(SemanticSegmentor)(
    backbone=L(SETRViTBackbone)(
        img_size=128, patch_size=16, embed_dim=64, depth=4, num_heads=4, out_indices=(0, 1, 2, 3), out_features=_feats
    ),
    sem_seg_head=L(SETRSemSegHead)(
        num_classes=6,
        decoder="pup",
        in_features=("layer4",),
        aux_features=_feats,
        channels=32,
        embed_dim=64,
        ignore_value=255,
    ),
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
)
train.output_dir = "./work_dirs/setr_pup_synthetic_d2"
