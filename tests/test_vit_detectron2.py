"""The SETR ViT as a detectron2 backbone: registry, output_shape(), ViTDet's simple pyramid on it."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("detectron2")

from detectron2.config import CfgNode, get_cfg  # noqa: E402
from detectron2.modeling import BACKBONE_REGISTRY, build_backbone  # noqa: E402
from detectron2.modeling.backbone.vit import SimpleFeaturePyramid  # noqa: E402

import segclassics.detectron2  # noqa: E402,F401
from helpers import REPO  # noqa: E402
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


def test_in_chans_is_a_deprecated_name_of_in_channels():
    with pytest.warns(DeprecationWarning, match="SETRViTBackbone: in_chans is deprecated; write in_channels"):
        old = SETRViTBackbone(in_chans=1, **SMALL)
    assert old.net.patch_embed.proj.in_channels == 1
    assert SETRViTBackbone(in_channels=1, **SMALL).net.patch_embed.proj.in_channels == 1


def test_build_from_yaml_config():
    assert BACKBONE_REGISTRY.get("SETRViTBackbone") is SETRViTBackbone
    cfg = add_segclassics_config(get_cfg())
    cfg.MODEL.BACKBONE.NAME = "SETRViTBackbone"
    cfg.MODEL.SEGCLASSICS.VIT = CfgNode(
        dict(IMG_SIZE=64, EMBED_DIM=32, DEPTH=2, NUM_HEADS=2, OUT_INDICES=[1], OUT_FEATURES=["last_feat"])
    )
    bb = build_backbone(cfg)
    assert bb.output_shape()["last_feat"].stride == 16 and bb.output_shape()["last_feat"].channels == 32


def test_vitdet_simple_feature_pyramid_on_it():
    bb = SETRViTBackbone(out_indices=(-1,), out_features=("last_feat",), **SMALL)
    fpn = SimpleFeaturePyramid(
        net=bb, in_feature="last_feat", out_channels=16, scale_factors=(4.0, 2.0, 1.0, 0.5), norm="LN"
    )
    outs = fpn(torch.randn(1, 3, 64, 64))
    shapes = fpn.output_shape()
    assert {k: v.stride for k, v in shapes.items()} == {"p2": 4, "p3": 8, "p4": 16, "p5": 32}
    for k, v in outs.items():
        assert v.shape[-1] == 64 // shapes[k].stride and v.shape[1] == 16


@pytest.mark.parametrize(
    "decoder,feats", [("pup", ("layer4",)), ("naive", ("layer4",)), ("mla", ("layer1", "layer2", "layer3", "layer4"))]
)
def test_setr_sem_seg_head_losses_and_inference(decoder, feats):
    from detectron2.modeling import SemanticSegmentor

    from segclassics.detectron2.setr_head import SETRSemSegHead

    bb = SETRViTBackbone(
        out_indices=(0, 1, 2, 3),
        out_features=("layer1", "layer2", "layer3", "layer4"),
        img_size=64,
        embed_dim=32,
        depth=4,
        num_heads=2,
    )
    head = SETRSemSegHead(
        bb.output_shape(),
        num_classes=4,
        decoder=decoder,
        in_features=feats,
        aux_features=("layer1", "layer2", "layer3", "layer4"),
        channels=16,
    )
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


TINY_VIT = dict(embed_dim=32, depth=4, num_heads=2)


def _d2_setr_like(ref, decoder, num_classes=4, img=64):
    """A detectron2 SemanticSegmentor with the layers and decoder of the framework-free ``ref``."""
    from detectron2.modeling import SemanticSegmentor

    from segclassics.detectron2.setr_head import SETRSemSegHead

    names = [f"layer{i + 1}" for i in ref.backbone.out_indices]
    bb = SETRViTBackbone(img_size=img, out_indices=ref.backbone.out_indices, **TINY_VIT)
    main = [names[i] for i in ref.decode_in]
    aux = names if decoder == "mla" else [names[i] for i in ref.aux_in]  # MLA: any aux feature = 4 neck aux heads
    head = SETRSemSegHead(
        bb.output_shape(), num_classes=num_classes, decoder=decoder, in_features=main, aux_features=aux, channels=16
    )
    return SemanticSegmentor(backbone=bb, sem_seg_head=head, pixel_mean=[0, 0, 0], pixel_std=[1, 1, 1])


@pytest.mark.parametrize("decoder", ["naive", "pup", "mla"])
def test_setr_equals_the_framework_free_setr_and_loads_its_checkpoint(decoder):
    """The framework-free SETR's state dict, under detectron2's prefixes, loads key by key into the
    detectron2 model, which then gives the same logits and the same main / auxiliary losses
    (paper Sec. 4: loss + 0.4 x each auxiliary loss)."""
    import torch.nn.functional as F

    from segclassics.detectron2.setr_head import setr_checkpoint_to_detectron2
    from segclassics.models.setr_heads import build_setr
    from segclassics.utils.checkpoint import load_state_dict_checked

    torch.manual_seed(0)
    ref = build_setr(decoder, "vit_base_patch16", num_classes=4, img_size=64, channels=16, vit_kwargs=TINY_VIT)
    with torch.no_grad():  # weights far from the init (the 0.01-std classifiers make every loss ~log K)
        for head in [ref.decode_head, *ref.aux_heads] + ([ref.neck] if ref.neck is not None else []):
            for p in head.parameters():
                p.normal_(0, 0.3)
        for m in ref.modules():  # non-trivial BN statistics
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model = _d2_setr_like(ref, decoder)
    load_state_dict_checked(model, setr_checkpoint_to_detectron2(ref.state_dict()))
    g = torch.Generator().manual_seed(1)
    img = torch.rand(2, 3, 64, 64, generator=g)
    target = torch.randint(0, 4, (2, 64, 64), generator=g)
    ref.eval(), model.eval()
    with torch.no_grad():
        out = model([dict(image=im, height=64, width=64) for im in img])
        torch.testing.assert_close(torch.stack([o["sem_seg"] for o in out]), ref(img), rtol=1e-5, atol=1e-5)
    ref.train(), model.train()
    logits, aux = ref(img)
    losses = model([dict(image=im, sem_seg=t) for im, t in zip(img, target)])
    torch.testing.assert_close(losses["loss_sem_seg"], F.cross_entropy(logits, target), rtol=1e-5, atol=1e-6)
    ref_aux = 0.4 * sum(F.cross_entropy(a, target) for a in aux)
    torch.testing.assert_close(losses["loss_sem_seg_aux"], ref_aux, rtol=1e-5, atol=1e-6)
    _, aux_d2 = model.sem_seg_head.layers(model.backbone(img))  # each auxiliary head on its layer
    assert len(aux_d2) == len(aux)
    for a, b in zip(aux_d2, aux):
        torch.testing.assert_close(
            F.interpolate(a, size=(64, 64), mode="bilinear", align_corners=False), b, rtol=1e-5, atol=1e-5
        )


def test_setr_head_keeps_no_state_and_uses_the_shared_loss():
    """Two calls do not leave tensors on the head; class weights and 'sum' reduction reach the
    auxiliary losses too (the loss of TorchModuleSemSegHead)."""
    import torch.nn.functional as F

    from segclassics.detectron2.setr_head import SETRSemSegHead

    torch.manual_seed(0)
    bb = SETRViTBackbone(out_indices=(0, 1, 2, 3), img_size=64, **TINY_VIT)
    names = ("layer1", "layer2", "layer3", "layer4")
    weights = [1.0, 2.0, 0.5, 3.0]
    head = SETRSemSegHead(
        bb.output_shape(),
        num_classes=4,
        decoder="mla",
        in_features=names,
        aux_features=names,
        channels=16,
        class_weights=weights,
        loss_reduction="sum",
    ).train()
    before = {k for k, v in vars(head).items() if torch.is_tensor(v)}
    feats = bb(torch.rand(2, 3, 64, 64))
    target = torch.randint(0, 4, (2, 64, 64))
    _, losses = head(feats, target)
    assert {k for k, v in vars(head).items() if torch.is_tensor(v)} == before
    logits, aux = head.module([feats[n] for n in names], [], with_aux=True)
    up = lambda t: F.interpolate(t, size=(64, 64), mode="bilinear", align_corners=False)  # noqa: E731
    w = torch.tensor(weights)
    torch.testing.assert_close(losses["loss_sem_seg"], F.cross_entropy(up(logits), target, weight=w, reduction="sum"))
    torch.testing.assert_close(
        losses["loss_sem_seg_aux"], 0.4 * sum(F.cross_entropy(up(a), target, weight=w, reduction="sum") for a in aux)
    )


def test_setr_from_yaml_config():
    from detectron2.modeling import build_model

    cfg = add_segclassics_config(get_cfg())
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.BACKBONE.NAME = "SETRViTBackbone"
    cfg.MODEL.SEGCLASSICS.VIT.merge_from_list(
        ["IMG_SIZE", 64, "EMBED_DIM", 32, "DEPTH", 4, "NUM_HEADS", 2, "OUT_INDICES", [0, 1, 2, 3]]
    )
    cfg.MODEL.SEM_SEG_HEAD.NAME = "SETRSemSegHead"
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 5
    cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["layer4"]
    cfg.MODEL.SEGCLASSICS.SETR.merge_from_list(
        ["DECODER", "naive", "CHANNELS", 16, "AUX_FEATURES", ["layer1", "layer2", "layer3"]]
    )
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    head = model.sem_seg_head
    assert head.decoder == "naive" and len(head.module.aux_heads) == 3 and head.common_stride == 16
    assert head.aux_weight == 0.4 and isinstance(head.module.decode_head.convs[0][1], torch.nn.BatchNorm2d)


def test_setr_lazy_config_builds():

    from detectron2.config import LazyConfig, instantiate

    cfg = LazyConfig.load(str(REPO / "configs/detectron2/setr_pup_synthetic.py"))
    model = instantiate(cfg.model)
    assert model.backbone.size_divisibility == 16 and len(model.sem_seg_head.module.aux_heads) == 4


@pytest.mark.slow
def test_setr_lazy_config_trains_and_evaluates(run_tool, tmp_path, synthetic_root):
    """configs/detectron2/setr_pup_synthetic.py through tools/train.py (2 iterations, main + auxiliary
    losses), then tools/test.py on its checkpoint reproduces the training's final evaluation."""
    import json
    import math
    import re

    config = "configs/detectron2/setr_pup_synthetic.py"
    opts = [
        "train.max_iter=2",
        "train.eval_period=2",
        "train.checkpointer.period=2",
        "train.log_period=1",
        f"dataloader.train.dataset.root={synthetic_root}",
        "dataloader.train.num_workers=0",
        "dataloader.train.total_batch_size=2",
        "dataloader.test.num_workers=0",
    ]
    proc = run_tool("train.py", config, "--work-dir", tmp_path / "work", *opts)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    for name in ("loss_sem_seg", "loss_sem_seg_aux"):
        values = [float(v) for v in re.findall(rf"\b{name}: (\S+?),?\s", log)]
        assert values and all(math.isfinite(v) for v in values), (name, values)
    val_miou = re.findall(r"copypaste: mIoU,fwIoU,mACC,pACC\n.*copypaste: ([0-9.]+),", log)
    assert val_miou, log[-3000:]
    proc = run_tool("test.py", config, tmp_path / "work" / "model_final.pth", "--work-dir", tmp_path / "work", *opts)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    metrics = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("metrics: "))[9:])
    assert f"{metrics['sem_seg/mIoU']:.4f}" == val_miou[-1]
