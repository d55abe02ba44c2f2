"""FCN / VGG16 in detectron2: registries, ShapeSpecs, SemanticSegmentor training and inference
sizes, equality with the plain torch network, yaml and LazyConfig construction.

Reduced widths keep it cheap on CPU; the full network is checked in tests/test_fcn.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("detectron2")

from detectron2.config import CfgNode, LazyConfig, get_cfg, instantiate  # noqa: E402
from detectron2.modeling import BACKBONE_REGISTRY, SEM_SEG_HEADS_REGISTRY, SemanticSegmentor, build_model  # noqa: E402

import segclassics.detectron2  # noqa: E402,F401
from helpers import REPO  # noqa: E402
from segclassics.detectron2.config import add_segclassics_config  # noqa: E402
from segclassics.detectron2.fcn_head import FCNSemSegHead  # noqa: E402
from segclassics.detectron2.vgg16_backbone import VGG16Backbone  # noqa: E402
from segclassics.models.fcn import FCN  # noqa: E402

TINY = dict(widths=(4, 4, 8, 8, 8), fc_channels=8)


def _model(num_classes=3, variant="8s"):
    feats = {"32s": ("fc7",), "16s": ("pool4", "fc7"), "8s": ("pool3", "pool4", "fc7")}[variant]
    backbone = VGG16Backbone(out_features=feats, **TINY)
    head = FCNSemSegHead(backbone.output_shape(), num_classes=num_classes, in_features=feats, variant=variant)
    return SemanticSegmentor(backbone=backbone, sem_seg_head=head, pixel_mean=[0, 0, 0], pixel_std=[1, 1, 1])


def test_registries_and_output_shape():
    assert BACKBONE_REGISTRY.get("VGG16Backbone") is VGG16Backbone
    assert SEM_SEG_HEADS_REGISTRY.get("FCNSemSegHead") is FCNSemSegHead
    shapes = VGG16Backbone(**TINY).output_shape()
    assert {k: (v.channels, v.stride) for k, v in shapes.items()} == {"pool3": (8, 8), "pool4": (8, 16), "fc7": (8, 32)}
    # FPN-style taps (Mask R-CNN on VGG16): the last conv of each stage
    fpn = VGG16Backbone(with_fc=False, conv1_1_padding=1, out_features=("conv2_2", "conv3_3", "conv4_3", "conv5_3"))
    assert {k: (v.channels, v.stride) for k, v in fpn.output_shape().items()} == {
        "conv2_2": (128, 2),
        "conv3_3": (256, 4),
        "conv4_3": (512, 8),
        "conv5_3": (512, 16),
    }
    out = fpn(torch.randn(1, 3, 64, 96))
    assert {k: tuple(v.shape[-2:]) for k, v in out.items()} == {
        "conv2_2": (32, 48),
        "conv3_3": (16, 24),
        "conv4_3": (8, 12),
        "conv5_3": (4, 6),
    }


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
def test_semantic_segmentor_train_and_inference_sizes(variant):
    torch.manual_seed(0)
    model = _model(3, variant)
    batch = [
        dict(image=torch.rand(3, 45, 61) * 255, sem_seg=torch.randint(0, 3, (45, 61))),
        dict(image=torch.rand(3, 38, 50) * 255, sem_seg=torch.randint(0, 3, (38, 50))),
    ]
    losses = model(batch)
    # zero-initialised score layers: uniform softmax, loss = ln(3)
    assert losses["loss_sem_seg"].item() == pytest.approx(np.log(3), abs=1e-5)
    model.eval()
    with torch.no_grad():
        out = model(
            [dict(image=torch.rand(3, 45, 61) * 255), dict(image=torch.rand(3, 7, 3) * 255, height=14, width=6)]
        )
    assert out[0]["sem_seg"].shape == (3, 45, 61) and out[1]["sem_seg"].shape == (3, 14, 6)


def test_inference_equals_plain_torch_network():
    torch.manual_seed(0)
    model = _model(3, "8s").eval()
    with torch.no_grad():
        for p in model.sem_seg_head.parameters():
            p.normal_(0, 0.1)
    ref = FCN(3, "8s", **TINY).eval()
    ref.backbone.load_state_dict({k: v for k, v in model.backbone.state_dict().items()})
    ref.decoder.load_state_dict(model.sem_seg_head.module.state_dict())
    img = torch.rand(3, 37, 50) * 255
    with torch.no_grad():
        got = model([dict(image=img)])[0]["sem_seg"]
        torch.testing.assert_close(got, ref(img[None])[0])


def test_a_few_sgd_steps_lower_the_loss():
    torch.manual_seed(0)
    model = _model(3, "8s")
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    img = torch.rand(3, 40, 40) * 255
    label = torch.zeros(40, 40, dtype=torch.long)
    label[:, 20:] = 1
    label[30:] = 255  # ignored
    batch = [dict(image=img, sem_seg=label)]
    losses = []
    for _ in range(15):
        loss = model(batch)["loss_sem_seg"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_yaml_config_builds_fcn16s():
    cfg = get_cfg()
    add_segclassics_config(cfg)
    cfg.MODEL.META_ARCHITECTURE = "SemanticSegmentor"
    cfg.MODEL.BACKBONE.NAME = "VGG16Backbone"
    cfg.MODEL.SEM_SEG_HEAD.NAME = "FCNSemSegHead"
    cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["pool4", "fc7"]
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 4
    cfg.MODEL.SEGCLASSICS.VGG16 = CfgNode(dict(WIDTHS=[4, 4, 8, 8, 8], FC_CHANNELS=8, OUT_FEATURES=["pool4", "fc7"]))
    cfg.MODEL.SEGCLASSICS.FCN = CfgNode(dict(VARIANT="16s"))
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg).eval()
    assert model.sem_seg_head.module.variant == "16s" and model.backbone.conv1_1_padding == 100
    with torch.no_grad():
        assert model([dict(image=torch.rand(3, 21, 33) * 255)])[0]["sem_seg"].shape == (4, 21, 33)
    cfg.MODEL.SEGCLASSICS.FCN.VARAINT = "8s"
    with pytest.raises(ValueError, match="unknown MODEL.SEGCLASSICS.FCN keys"):
        build_model(cfg)


def test_head_errors():
    shapes = VGG16Backbone(**TINY).output_shape()
    with pytest.raises(ValueError, match="not produced by the backbone"):
        FCNSemSegHead(shapes, num_classes=3, in_features=("pool3", "pool4", "conv5_3"))
    with pytest.raises(ValueError, match="consumes 3 features"):
        FCNSemSegHead(shapes, num_classes=3, in_features=("pool4", "fc7"), variant="8s")
    # padded-geometry head on the reference (pad 100) backbone: caught at run time
    backbone = VGG16Backbone(**TINY)
    head = FCNSemSegHead(backbone.output_shape(), num_classes=3, mode="padded")
    with pytest.raises(ValueError, match="conv1_1_padding=1"):
        head(backbone(torch.randn(1, 3, 32, 32)), torch.zeros(1, 32, 32, dtype=torch.long))


def test_lazy_config_instantiates():
    cfg = LazyConfig.load(str(REPO / "configs/detectron2/fcn8s_vgg16_synthetic.py"))
    model = instantiate(cfg.model).eval()
    assert isinstance(model.backbone, VGG16Backbone) and model.sem_seg_head.module.variant == "8s"
    with torch.no_grad():
        assert model([dict(image=torch.rand(3, 64, 48) * 255)])[0]["sem_seg"].shape == (6, 64, 48)
    assert cfg.train.output_dir.endswith("fcn8s_vgg16_synthetic_d2")


def test_voc12aug_config_is_the_reference_recipe_and_reads_voc_layout(tmp_path, shared_data, monkeypatch, request):
    """The detectron2 VOC config: FCN-8s at-once with summed loss; its registration reads the
    VOC ``ImageSets`` lists, refuses VOC's palette labels and trains on converted ones."""
    import shutil

    from detectron2.config import LazyConfig, instantiate
    from detectron2.data import DatasetCatalog
    from detectron2.utils.events import EventStorage

    from segclassics.datasets.label_png import convert_folder
    from segclassics.detectron2.voc import DEFAULT_ROOT, register_voc2012

    voc_tiny = shared_data("voc_tiny") / "voc"
    root = tmp_path / "VOC2012"
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    shutil.copytree(voc_tiny / "images", root / "JPEGImages")
    stems = sorted(p.stem for p in (voc_tiny / "SegmentationClass").glob("*.png"))
    shutil.copytree(voc_tiny / "SegmentationClass", root / "SegmentationClass")  # palette PNGs, as VOC ships them
    for labels in ("SegmentationClassAug", "SegmentationClassIndex"):  # palette copies: not converted yet
        shutil.copytree(voc_tiny / "SegmentationClass", root / labels)
    for split, names in (("train", stems[:1]), ("aug", stems[1:2]), ("val", stems[2:])):
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(n + "\n" for n in names))
    # the names are registered at import from $SEGCLASSICS_VOC2012; register them again as a
    # process started with it set would have
    monkeypatch.setenv("SEGCLASSICS_VOC2012", str(root))
    register_voc2012()
    request.addfinalizer(lambda: register_voc2012(DEFAULT_ROOT))  # later tests see the default names
    cfg = LazyConfig.load(str(REPO / "configs/detectron2/fcn8s-atonce_vgg16_voc12aug.py"))
    assert cfg.model.sem_seg_head.loss_reduction == "sum" and cfg.optimizer.lr == 1e-10
    with pytest.raises(ValueError, match="palette"):
        DatasetCatalog.get("voc_2012_sem_seg_val")
    for labels in ("SegmentationClassIndex", "SegmentationClassAug"):
        shutil.rmtree(root / labels, ignore_errors=True)
        convert_folder(str(root / "SegmentationClass"), str(root / labels))
    assert [
        len(DatasetCatalog.get(n)) for n in ("voc_2012_sem_seg_train", "voc_2012_sem_seg_aug", "voc_2012_sem_seg_val")
    ] == [1, 1, 1]
    # one training step of a narrow copy of the network on the registered data (labels 0..20 / 255)
    cfg = LazyConfig.apply_overrides(
        cfg,
        [
            "model.backbone.widths=[4,8,8,16,16]",
            "model.backbone.fc_channels=16",
            "model.sem_seg_head.in_channels=[8,16,16]",
            "dataloader.train.num_workers=0",
        ],
    )
    model = instantiate(cfg.model)
    batch = next(iter(instantiate(cfg.dataloader.train)))
    labels = batch[0]["sem_seg"]
    assert set(labels.unique().tolist()) <= set(range(21)) | {255}
    with EventStorage(0):
        losses = model(batch)
    # zero-initialised score layers -> uniform softmax: ln(21) per labelled pixel, summed (not averaged)
    n_labelled = int((labels != 255).sum())
    torch.testing.assert_close(losses["loss_sem_seg"].item(), n_labelled * float(np.log(21)), rtol=1e-4, atol=0)
