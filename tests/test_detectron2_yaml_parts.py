"""Every name segclassics registers in detectron2's registries is built from a yaml config
(``get_cfg()`` + ``add_segclassics_config`` + ``merge_from_file``) and runs one training step and
one evaluation step on tiny synthetic input. A newly registered name without a yaml case here fails."""
from __future__ import annotations

import pytest

pytest.importorskip("detectron2")

import torch  # noqa: E402
from detectron2 import modeling  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402
from fvcore.common.registry import Registry  # noqa: E402

import segclassics.detectron2  # noqa: E402,F401
from segclassics.detectron2.config import add_segclassics_config  # noqa: E402

_COMMON = """
  DEVICE: "cpu"
  PIXEL_MEAN: [123.675, 116.28, 103.53]
  PIXEL_STD: [58.395, 57.12, 57.375]
"""

# name of the case -> (yaml text, input (h, w), registered names it builds)
CASES = {
    "fcn8s_on_vgg16": ("""
MODEL:
  META_ARCHITECTURE: "SemanticSegmentor"
  BACKBONE: {NAME: "VGG16Backbone"}
  SEM_SEG_HEAD: {NAME: "FCNSemSegHead", NUM_CLASSES: 3, IN_FEATURES: ["pool3", "pool4", "fc7"]}
  SEGCLASSICS:
    VGG16: {WIDTHS: [4, 4, 8, 8, 8], FC_CHANNELS: 8}
    FCN: {VARIANT: "8s"}""", (32, 40), {"VGG16Backbone", "FCNSemSegHead"}),
    "segnet_basic": ("""
MODEL:
  META_ARCHITECTURE: "SemanticSegmentor"
  BACKBONE: {NAME: "SegNetEncoderBackbone"}
  SEM_SEG_HEAD: {NAME: "SegNetSemSegHead", NUM_CLASSES: 3}
  SEGCLASSICS:
    SEGNET: {ARCH: "basic", CHANNELS: 4, NUM_STAGES: 2, KERNEL_SIZE: 3}""", (16, 20),
                     {"SegNetEncoderBackbone", "SegNetSemSegHead"}),
    "setr_pup_on_vit": ("""
MODEL:
  META_ARCHITECTURE: "SemanticSegmentor"
  BACKBONE: {NAME: "SETRViTBackbone"}
  SEM_SEG_HEAD: {NAME: "SETRSemSegHead", NUM_CLASSES: 3, IN_FEATURES: ["layer2"]}
  SEGCLASSICS:
    VIT: {IMG_SIZE: 32, EMBED_DIM: 16, DEPTH: 2, NUM_HEADS: 2, OUT_INDICES: [1]}
    SETR: {DECODER: "pup", CHANNELS: 8}""", (32, 48), {"SETRViTBackbone", "SETRSemSegHead"}),
    "unet_same_by_builders": ("""
MODEL:
  META_ARCHITECTURE: "SemanticSegmentor"
  BACKBONE: {NAME: "build_paper_unet_backbone"}
  SEM_SEG_HEAD: {NAME: "build_paper_unet_sem_seg_head", NUM_CLASSES: 3}
  SEGCLASSICS:
    UNET: {BASE_CHANNELS: 4, DEPTH: 2, PADDING: "same", NORM: "BN"}""", (16, 20),
                              {"build_paper_unet_backbone", "build_paper_unet_sem_seg_head"}),
    # valid UNet of depth 2: a 28 px tile gives a 12 px output; training crops are valid sizes
    "unet_valid_overlap_tile": ("""
MODEL:
  META_ARCHITECTURE: "OverlapTileSemanticSegmentor"
  BACKBONE: {NAME: "build_paper_unet_backbone"}
  SEM_SEG_HEAD: {NAME: "PaperUNetSemSegHead", NUM_CLASSES: 3}
  SEGCLASSICS:
    UNET: {BASE_CHANNELS: 4, DEPTH: 2, PADDING: "valid"}
    TILE: {TILE_SIZE: 28, BATCH_TILES: 2}""", (28, 28), {"OverlapTileSemanticSegmentor", "PaperUNetSemSegHead"}),
}


def _registered_segclassics_names() -> set:
    names = set()
    for attr in dir(modeling):
        registry = getattr(modeling, attr)
        if isinstance(registry, Registry):
            names |= {f"{registry._name}:{name}" for name, obj in registry
                      if getattr(obj, "__module__", "").startswith("segclassics.")}
    return names


def _registry_key(name: str) -> str:
    for attr in dir(modeling):
        registry = getattr(modeling, attr)
        if isinstance(registry, Registry) and name in registry:
            return f"{registry._name}:{name}"
    raise AssertionError(f"{name} is in no detectron2 registry")


def test_every_registered_name_has_a_yaml_case():
    covered = {_registry_key(n) for _, _, names in CASES.values() for n in names}
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
    batch = [dict(image=torch.rand(3, h, w, generator=g) * 255, sem_seg=torch.randint(0, 3, (h, w), generator=g))
             for _ in range(2)]
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
