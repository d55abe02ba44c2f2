"""The SETR ViT as a detectron2 backbone: registry, output_shape(), ViTDet's simple pyramid on it."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("detectron2")

from detectron2.config import CfgNode, get_cfg  # noqa: E402
from detectron2.modeling import BACKBONE_REGISTRY, build_backbone  # noqa: E402
from detectron2.modeling.backbone.vit import SimpleFeaturePyramid  # noqa: E402

import segclassics.detectron2  # noqa: E402,F401
from segclassics.detectron2.config import add_segclassics_config  # noqa: E402
from segclassics.detectron2.vit_backbone import SETRViTBackbone  # noqa: E402

SMALL = dict(img_size=64, patch_size=16, embed_dim=32, depth=3, num_heads=2)


def test_output_shape_matches_forward():
    bb = SETRViTBackbone(out_indices=(0, 2), **SMALL)
    shapes = bb.output_shape()
    assert list(shapes) == ["layer1", "layer3"] and bb.size_divisibility == 16
    feats = bb(torch.randn(2, 3, 64, 96))
    for name, f in feats.items():
        assert f.shape[1] == shapes[name].channels == 32
        assert (64 // f.shape[2], 96 // f.shape[3]) == (shapes[name].stride,) * 2
    with pytest.raises(ValueError, match="distinct names"):
        SETRViTBackbone(out_indices=(0, 2), out_features=("a",), **SMALL)


def test_build_from_yaml_config():
    assert BACKBONE_REGISTRY.get("SETRViTBackbone") is SETRViTBackbone
    cfg = add_segclassics_config(get_cfg())
    cfg.MODEL.BACKBONE.NAME = "SETRViTBackbone"
    cfg.MODEL.SEGCLASSICS.VIT = CfgNode(dict(IMG_SIZE=64, EMBED_DIM=32, DEPTH=2, NUM_HEADS=2, OUT_INDICES=[1],
                                             OUT_FEATURES=["last_feat"]))
    bb = build_backbone(cfg)
    assert bb.output_shape()["last_feat"].stride == 16 and bb.output_shape()["last_feat"].channels == 32


def test_vitdet_simple_feature_pyramid_on_it():
    bb = SETRViTBackbone(out_indices=(-1,), out_features=("last_feat",), **SMALL)
    fpn = SimpleFeaturePyramid(net=bb, in_feature="last_feat", out_channels=16, scale_factors=(4.0, 2.0, 1.0, 0.5),
                               norm="LN")
    outs = fpn(torch.randn(1, 3, 64, 64))
    shapes = fpn.output_shape()
    assert {k: v.stride for k, v in shapes.items()} == {"p2": 4, "p3": 8, "p4": 16, "p5": 32}
    for k, v in outs.items():
        assert v.shape[-1] == 64 // shapes[k].stride and v.shape[1] == 16


@pytest.mark.parametrize("decoder,feats", [("pup", ("layer4",)), ("naive", ("layer4",)),
                                           ("mla", ("layer1", "layer2", "layer3", "layer4"))])
def test_setr_sem_seg_head_losses_and_inference(decoder, feats):
    from detectron2.modeling import SemanticSegmentor
    from segclassics.detectron2.setr_head import SETRSemSegHead
    bb = SETRViTBackbone(out_indices=(0, 1, 2, 3), out_features=("layer1", "layer2", "layer3", "layer4"),
                         img_size=64, embed_dim=32, depth=4, num_heads=2)
    head = SETRSemSegHead(bb.output_shape(), num_classes=4, decoder=decoder, in_features=feats,
                          aux_features=("layer1", "layer2", "layer3", "layer4"), channels=16)
    model = SemanticSegmentor(backbone=bb, sem_seg_head=head, pixel_mean=[0, 0, 0], pixel_std=[1, 1, 1])
    batch = [dict(image=torch.rand(3, 60, 70) * 255, sem_seg=torch.randint(0, 4, (60, 70))) for _ in range(2)]
    model.train()
    losses = model(batch)
    assert set(losses) == {"loss_sem_seg", "loss_sem_seg_aux"}
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        out = model([dict(image=torch.rand(3, 60, 70) * 255, height=60, width=70)])
    assert out[0]["sem_seg"].shape == (4, 60, 70)
    with pytest.raises(ValueError, match="takes 4 in_features"):
        SETRSemSegHead(bb.output_shape(), num_classes=4, decoder="mla", in_features=("layer4",))


def test_setr_lazy_config_builds():
    from detectron2.config import LazyConfig, instantiate
    from pathlib import Path
    cfg = LazyConfig.load(str(Path(__file__).resolve().parents[1] / "configs/detectron2/setr_pup_synthetic.py"))
    model = instantiate(cfg.model)
    assert model.backbone.size_divisibility == 16 and len(model.sem_seg_head.aux_heads) == 4
