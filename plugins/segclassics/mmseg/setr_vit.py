"""mmseg backbone ``SETRViT``: the SETR / ViT encoder (Zheng et al., CVPR 2021, Sec. 3.1-3.2).

Registers :class:`segclassics.openmmlab.setr_vit.SETRViT` (our SDPA ViT + mmengine module API +
checked ``pretrained`` loading) in mmseg's ``MODELS``; mmseg's own ``VisionTransformer`` is not used.
Outputs: a list of ``(B, embed_dim, ceil(H/16), ceil(W/16))`` maps at ``out_indices``.
"""

from mmseg.registry import MODELS

from ..openmmlab.setr_vit import SETRViT

MODELS.register_module(name="SETRViT", module=SETRViT)
