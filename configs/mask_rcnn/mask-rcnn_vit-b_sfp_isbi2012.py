# Mask R-CNN with segclassics' ViT-B/16 (mmdet MODELS 'SETRViT', a thin wrapper of
# segclassics.models.vit.VisionTransformer) on ISBI 2012 cells, ViTDet-style (Li et al. 2022,
# Sec. 3): a simple feature pyramid built from the *last* ViT map -- mmseg's MultiLevelNeck
# (1x1 conv, bilinear rescale by 4, 2, 1, 1/2, 3x3 conv; referenced cross-scope) -- followed by
# mmdet's FPN. ViTDet's own pyramid uses deconvolutions / max-pool for the rescaling; detectron2
# twin (with detectron2's SimpleFeaturePyramid): configs/detectron2/mask_rcnn_ViT_SFP_isbi2012.py.
# From scratch (no weights offline); position embedding for the 256 px training crops (resized
# for the 512 px val slices); AdamW lr 1e-4 as ViTDet; data and schedule
# length as mask-rcnn_r50_fpn_gn-scratch_isbi2012.py.
_base_ = "./mask-rcnn_r50_fpn_gn-scratch_isbi2012.py"

norm_cfg = dict(type="GN", num_groups=32, requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True, type="SETRViT", arch="vit_base_patch16", img_size=256, drop_path_rate=0.1, out_indices=(-1,)
    ),
    neck=[
        dict(
            type="mmseg.MultiLevelNeck", in_channels=[768], out_channels=256, scales=[4, 2, 1, 0.5], norm_cfg=norm_cfg
        ),
        dict(type="FPN", in_channels=[256, 256, 256, 256], out_channels=256, num_outs=5, norm_cfg=norm_cfg),
    ],
)
optim_wrapper = dict(
    _delete_=True,
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={"pos_embed": dict(decay_mult=0.0)}),
)
