"""Every name segclassics registers in detectron2's registries is built from a yaml config
(``get_cfg()`` + ``add_segclassics_config`` + ``merge_from_file``) and runs one training step and
one evaluation step on tiny synthetic input. A newly registered name without a yaml case here fails."""

from __future__ import annotations

import pytest

pytest.importorskip("detectron2")

import torch  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402
from fvcore.common.registry import Registry  # noqa: E402

import segclassics.detectron2  # noqa: E402,F401
from detectron2 import modeling  # noqa: E402
from segclassics.detectron2.config import add_segclassics_config  # noqa: E402

_COMMON = """
  DEVICE: "cpu"
  PIXEL_MEAN: [123.675, 116.28, 103.53]
  PIXEL_STD: [58.395, 57.12, 57.375]
"""

# name of the case -> (yaml text, input (h, w), registered names it builds)
CASES = {
    "fcn8s_on_vgg16": (
        """
MODEL:
  META_ARCHITECTURE: "SemanticSegmentor"
  BACKBONE: {NAME: "VGG16Backbone"}
  SEM_SEG_HEAD: {NAME: "FCNSemSegHead", NUM_CLASSES: 3, IN_FEATURES: ["pool3", "pool4", "fc7"]}
  SEGCLASSICS:
    VGG16: {WIDTHS: [4, 4, 8, 8, 8], FC_CHANNELS: 8}
    FCN: {VARIANT: "8s"}""",
        (32, 40),
        {"VGG16Backbone", "FCNSemSegHead"},
    ),
    "segnet_basic": (
        """
MODEL:
  META_ARCHITECTURE: "SemanticSegmentor"
  BACKBONE: {NAME: "SegNetEncoderBackbone"}
  SEM_SEG_HEAD: {NAME: "SegNetSemSegHead", NUM_CLASSES: 3}
  SEGCLASSICS:
    SEGNET: {ARCH: "basic", CHANNELS: 4, NUM_STAGES: 2, KERNEL_SIZE: 3}""",
        (16, 20),
        {"SegNetEncoderBackbone", "SegNetSemSegHead"},
    ),
    "setr_pup_on_vit": (
        """
MODEL:
  META_ARCHITECTURE: "SemanticSegmentor"
  BACKBONE: {NAME: "SETRViTBackbone"}
  SEM_SEG_HEAD: {NAME: "SETRSemSegHead", NUM_CLASSES: 3, IN_FEATURES: ["layer2"]}
  SEGCLASSICS:
    VIT: {IMG_SIZE: 32, EMBED_DIM: 16, DEPTH: 2, NUM_HEADS: 2, OUT_INDICES: [1]}
    SETR: {DECODER: "pup", CHANNELS: 8}""",
        (32, 48),
        {"SETRViTBackbone", "SETRSemSegHead"},
    ),
    "unet_same_by_builders": (
        """
MODEL:
  META_ARCHITECTURE: "SemanticSegmentor"
  BACKBONE: {NAME: "build_paper_unet_backbone"}
  SEM_SEG_HEAD: {NAME: "build_paper_unet_sem_seg_head", NUM_CLASSES: 3}
  SEGCLASSICS:
    UNET: {BASE_CHANNELS: 4, DEPTH: 2, PADDING: "same", NORM: "BN"}""",
        (16, 20),
        {"build_paper_unet_backbone", "build_paper_unet_sem_seg_head"},
    ),
    # valid UNet of depth 2: a 28 px tile gives a 12 px output; training crops are valid sizes
    "unet_valid_overlap_tile": (
        """
MODEL:
  META_ARCHITECTURE: "OverlapTileSemanticSegmentor"
  BACKBONE: {NAME: "build_paper_unet_backbone"}
  SEM_SEG_HEAD: {NAME: "PaperUNetSemSegHead", NUM_CLASSES: 3}
  SEGCLASSICS:
    UNET: {BASE_CHANNELS: 4, DEPTH: 2, PADDING: "valid"}
    TILE: {TILE_SIZE: 28, BATCH_TILES: 2}""",
        (28, 28),
        {"OverlapTileSemanticSegmentor", "PaperUNetSemSegHead"},
    ),
}

_MASK_RCNN = """
MODEL:
  META_ARCHITECTURE: "GeneralizedRCNN"
  MASK_ON: True
  ANCHOR_GENERATOR: {SIZES: [[8], [16], [32], [64], [128]]}
  RPN: {IN_FEATURES: ["p2", "p3", "p4", "p5", "p6"], BATCH_SIZE_PER_IMAGE: 32}
  ROI_HEADS: {NAME: "StandardROIHeads", IN_FEATURES: ["p2", "p3", "p4", "p5"], NUM_CLASSES: 2,
              BATCH_SIZE_PER_IMAGE: 16}
  ROI_BOX_HEAD: {NAME: "FastRCNNConvFCHead", NUM_FC: 1, FC_DIM: 16, POOLER_TYPE: "ROIAlignV2"}
  ROI_MASK_HEAD: {NAME: "MaskRCNNConvUpsampleHead", NUM_CONV: 1, CONV_DIM: 8, POOLER_TYPE: "ROIAlignV2"}
"""
# Mask R-CNN backbones (instances in, instances out); a 64 x 64 input
INSTANCE_CASES = {
    "mask_rcnn_on_vgg16_fpn": (
        _MASK_RCNN
        + """  BACKBONE: {NAME: "build_vgg16_fpn_backbone"}
  FPN: {IN_FEATURES: ["pool2", "pool3", "pool4", "pool5"], OUT_CHANNELS: 8}
  SEGCLASSICS:
    VGG16: {WIDTHS: [4, 4, 8, 8, 8], WITH_FC: False, CONV1_1_PADDING: 1, SIZE_DIVISIBILITY: 32,
            OUT_FEATURES: ["pool2", "pool3", "pool4", "pool5"]}""",
        {"build_vgg16_fpn_backbone"},
    ),
    "mask_rcnn_on_vit_sfp": (
        _MASK_RCNN
        + """  BACKBONE: {NAME: "build_setr_vit_sfp_backbone"}
  FPN: {OUT_CHANNELS: 8, NORM: "LN"}
  SEGCLASSICS:
    VIT: {IMG_SIZE: 64, EMBED_DIM: 16, DEPTH: 1, NUM_HEADS: 2, OUT_FEATURES: ["last_feat"]}
    SFP: {SQUARE_PAD: 64}""",
        {"build_setr_vit_sfp_backbone"},
    ),
}


def _registered_segclassics_names() -> set:
    names = set()
    for attr in dir(modeling):
        registry = getattr(modeling, attr)
        if isinstance(registry, Registry):
            names |= {
                f"{registry._name}:{name}"
                for name, obj in registry
                if getattr(obj, "__module__", "").startswith("segclassics.")
            }
    return names


def _registry_key(name: str) -> str:
    for attr in dir(modeling):
        registry = getattr(modeling, attr)
        if isinstance(registry, Registry) and name in registry:
            return f"{registry._name}:{name}"
    raise AssertionError(f"{name} is in no detectron2 registry")


def test_every_registered_name_has_a_yaml_case():
    covered = {_registry_key(n) for _, _, names in CASES.values() for n in names}
    covered |= {_registry_key(n) for _, names in INSTANCE_CASES.values() for n in names}
    registered = _registered_segclassics_names()
    assert len(registered) >= 10  # the registries were found (and hold our parts)
    assert registered - covered == set(), "registered names without a yaml case in CASES"
    assert covered - registered == set()


def _cfg_from_yaml(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("MODEL:\n", "MODEL:" + _COMMON, 1))
    cfg = add_segclassics_config(get_cfg())
    cfg.merge_from_file(str(path))
    return cfg


@pytest.mark.parametrize("case", sorted(CASES))
def test_built_from_yaml_trains_one_step_and_evaluates(case, tmp_path):
    text, (h, w), names = CASES[case]
    cfg = _cfg_from_yaml(tmp_path, text)
    torch.manual_seed(0)
    model = build_model(cfg)
    built = {type(model).__name__, type(model.backbone).__name__, type(model.sem_seg_head).__name__}
    classes = {n for n in names if not n.startswith("build_")}
    assert classes <= built

    g = torch.Generator().manual_seed(0)
    batch = [
        dict(image=torch.rand(3, h, w, generator=g) * 255, sem_seg=torch.randint(0, 3, (h, w), generator=g))
        for _ in range(2)
    ]
    model.train()
    losses = model(batch)
    assert set(losses) == {"loss_sem_seg"} and torch.isfinite(losses["loss_sem_seg"])
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    opt.zero_grad()
    sum(losses.values()).backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))

    model.eval()
    with torch.no_grad():
        out = model([dict(image=torch.rand(3, h - 4, w + 2, generator=g) * 255, height=h, width=w)])
    assert out[0]["sem_seg"].shape == (3, h, w) and torch.isfinite(out[0]["sem_seg"]).all()


@pytest.mark.parametrize("case", sorted(INSTANCE_CASES))
def test_mask_rcnn_backbone_built_from_yaml_trains_one_step_and_evaluates(case, tmp_path):
    from detectron2.structures import BitMasks, Boxes, Instances
    from detectron2.utils.events import EventStorage

    text, names = INSTANCE_CASES[case]
    cfg = _cfg_from_yaml(tmp_path, text)
    torch.manual_seed(0)
    model = build_model(cfg)
    assert type(model).__name__ == "GeneralizedRCNN"
    assert list(model.backbone.output_shape()) == ["p2", "p3", "p4", "p5", "p6"]

    boxes = torch.tensor([[8.0, 8.0, 40.0, 40.0], [20.0, 30.0, 60.0, 60.0]])
    masks = torch.zeros(2, 64, 64, dtype=torch.bool)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist()):
        mask[y0:y1, x0:x1] = True
    gt = Instances((64, 64), gt_boxes=Boxes(boxes), gt_classes=torch.tensor([0, 1]), gt_masks=BitMasks(masks))
    g = torch.Generator().manual_seed(0)
    batch = [dict(image=torch.rand(3, 64, 64, generator=g) * 255, instances=gt)]
    model.train()
    with EventStorage():  # the RPN and RoI heads log their sampling statistics there
        losses = model(batch)
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_mask", "loss_rpn_cls", "loss_rpn_loc"}
    assert all(torch.isfinite(v) for v in losses.values())
    before = [p.detach().clone() for p in model.backbone.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    opt.zero_grad()
    sum(losses.values()).backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.backbone.parameters()))

    model.eval()
    with torch.no_grad():
        out = model([dict(image=torch.rand(3, 48, 64, generator=g) * 255)])[0]["instances"]
    assert out.image_size == (48, 64) and out.pred_masks.shape[1:] == (48, 64)
