"""Paper UNet (Ronneberger et al. 2015, Sec. 2) in detectron2 on the synthetic shapes, CPU demo size.

Same network as ``configs/unet/unet_synthetic.py`` (base 16, depth 4, 'same' padding + batch norm,
6 classes) with detectron2's ``SemanticSegmentor``; the backbone pads images to a multiple of 8.
For the paper's valid net use ``OverlapTileSemanticSegmentor`` (overlap-tile inference), e.g.::

    model = L(OverlapTileSemanticSegmentor)(backbone=L(PaperUNetBackbone)(padding='valid', ...),
                                             sem_seg_head=L(PaperUNetSemSegHead)(padding='valid', ...),
                                             tile_size=..., pixel_mean=..., pixel_std=...)
"""

from detectron2.config import LazyCall as L
from detectron2.modeling import SemanticSegmentor

from segclassics.detectron2.paper_unet_backbone import PaperUNetBackbone
from segclassics.detectron2.paper_unet_head import PaperUNetSemSegHead

from .common.schedule_cpu_demo import lr_multiplier, optimizer, train  # noqa: F401
from .common.semseg_synthetic import dataloader  # noqa: F401

_base, _depth = 16, 4
model = L(SemanticSegmentor)(
    backbone=L(PaperUNetBackbone)(in_channels=3, base_channels=_base, depth=_depth, padding="same", norm="BN"),
    sem_seg_head=L(PaperUNetSemSegHead)(
        num_classes=6, base_channels=_base, depth=_depth, padding="same", norm="BN", ignore_value=255
    ),
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
)
train.output_dir = "./work_dirs/unet_synthetic_d2"
