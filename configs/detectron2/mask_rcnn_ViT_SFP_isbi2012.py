"""Mask R-CNN with segclassics' ViT + detectron2's SimpleFeaturePyramid (ViTDet) on ISBI 2012 cells.

detectron2's packaged ViTDet model (``common/models/mask_rcnn_vitdet.py``: Li et al. 2022,
"Exploring Plain Vision Transformer Backbones for Object Detection", Sec. 3: a pyramid of
strides 4/8/16/32 built from the *last* ViT map by deconvolutions and pooling, LN heads) with its
ViT replaced by the SETR encoder ``SETRViTBackbone`` (``segclassics.models.vit``, ViT-B/16,
global attention in every block). No ImageNet weights offline: trained from scratch.
Inputs square-padded to 512 (ViTDet pads to a fixed square; the 256 px training crops and the
whole 512 px val slices of ``mask_rcnn_R_50_FPN_isbi2012.py``, whose data and schedule it uses).
Anchors 16..256 px as the R50 config. mmdet twin: ``configs/mask_rcnn/mask-rcnn_vit-b_sfp_isbi2012.py``.
"""

from detectron2.config import LazyCall as L
from detectron2.model_zoo import get_config

from segclassics.detectron2.vit_backbone import SETRViTBackbone

from .mask_rcnn_R_50_FPN_isbi2012 import dataloader, lr_multiplier, optimizer, train

model = get_config("common/models/mask_rcnn_vitdet.py").model
model.backbone.net = L(SETRViTBackbone)(
    img_size=512,
    patch_size=16,
    embed_dim=768,
    depth=12,
    num_heads=12,
    mlp_ratio=4.0,
    drop_path_rate=0.1,
    out_indices=(-1,),
    out_features=("last_feat",),
)
model.backbone.in_feature = "last_feat"
model.backbone.square_pad = 512
model.roi_heads.num_classes = 1
model.proposal_generator.anchor_generator.sizes = [[16], [32], [64], [128], [256]]  # small cells, as the R50 config
model.roi_heads.batch_size_per_image = 128
# the SETR ViT is RGB, normalised with ImageNet mean/std (ViTDet's own constants)
dataloader.train.mapper.image_format = "RGB"
dataloader.test.mapper.image_format = "RGB"
optimizer = get_config("common/optim.py").AdamW
optimizer.lr = 1e-4
optimizer.params.overrides = {"pos_embed": {"weight_decay": 0.0}}
train.output_dir = "work_dirs/mask_rcnn_ViT_SFP_isbi2012"
