"""Each detectron2 Mask R-CNN LazyConfig we ship has a yaml twin that builds the same network: the same
state_dict keys and shapes, and, with the LazyConfig model's weights loaded, the same predictions."""

from __future__ import annotations

import pytest

pytest.importorskip("detectron2")

import torch  # noqa: E402
from detectron2.config import LazyConfig, get_cfg, instantiate  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

import segclassics.detectron2  # noqa: E402,F401
from segclassics.detectron2.config import add_segclassics_config  # noqa: E402

TWINS = [
    "mask_rcnn_R_18_FPN_isbi2012",
    "mask_rcnn_R_50_FPN_isbi2012",
    "mask_rcnn_VGG16_FPN_isbi2012",
    "mask_rcnn_ViT_SFP_isbi2012",
]


def test_every_mask_rcnn_lazyconfig_on_isbi_has_a_yaml_twin(repo_root):
    lazy = sorted(p.stem for p in (repo_root / "configs/detectron2").glob("mask_rcnn_*_isbi2012.py"))
    assert lazy == sorted(TWINS)
    assert all((repo_root / "configs/detectron2" / f"{name}.yaml").is_file() for name in TWINS)


@pytest.mark.parametrize("name", TWINS)
def test_yaml_builds_the_lazyconfig_network(name, repo_root):
    torch.manual_seed(0)
    lazy_model = instantiate(LazyConfig.load(str(repo_root / "configs/detectron2" / f"{name}.py")).model).eval()
    cfg = add_segclassics_config(get_cfg())
    cfg.merge_from_file(str(repo_root / "configs/detectron2" / f"{name}.yaml"))
    yaml_model = build_model(cfg).eval()

    lazy_sd, yaml_sd = lazy_model.state_dict(), yaml_model.state_dict()
    assert list(yaml_sd) == list(lazy_sd)
    assert {k: tuple(v.shape) for k, v in yaml_sd.items()} == {k: tuple(v.shape) for k, v in lazy_sd.items()}
    assert yaml_model.backbone.size_divisibility == lazy_model.backbone.size_divisibility
    assert (yaml_model.pixel_mean.flatten().tolist(), yaml_model.input_format) == (
        lazy_model.pixel_mean.flatten().tolist(),
        lazy_model.input_format,
    )
    yaml_model.load_state_dict(lazy_sd, strict=True)

    g = torch.Generator().manual_seed(1)
    image = torch.randint(0, 256, (3, 96, 128), generator=g).float()
    with torch.no_grad():
        ours, theirs = yaml_model([{"image": image}])[0]["instances"], lazy_model([{"image": image}])[0]["instances"]
    assert len(theirs) > 0  # random weights still propose boxes: the comparison compares something
    assert torch.equal(ours.pred_boxes.tensor, theirs.pred_boxes.tensor)
    assert torch.equal(ours.scores, theirs.scores) and torch.equal(ours.pred_classes, theirs.pred_classes)
    assert torch.equal(ours.pred_masks, theirs.pred_masks)
