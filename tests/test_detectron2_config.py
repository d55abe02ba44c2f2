"""detectron2 yaml keys: every segclassics part under MODEL.SEGCLASSICS.<PART>, typed defaults, unknown keys refused."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("detectron2")

from detectron2.config import CfgNode, get_cfg  # noqa: E402
from detectron2.layers import ShapeSpec  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

import segclassics.detectron2  # noqa: E402,F401
from segclassics.detectron2 import config as d2config  # noqa: E402
from segclassics.detectron2.config import SEGCLASSICS_DEFAULTS, add_segclassics_config, part_options  # noqa: E402

PARTS = ("VGG16", "FCN", "VIT", "SFP", "SETR", "UNET", "SEGNET", "TILE")


def test_one_node_per_part_with_typed_defaults():
    cfg = add_segclassics_config(get_cfg())
    assert set(SEGCLASSICS_DEFAULTS) == set(PARTS) == set(cfg.MODEL.SEGCLASSICS)
    assert not {"UNET", "SEGNET"} & set(cfg.MODEL)  # no part outside MODEL.SEGCLASSICS
    for part in PARTS:
        assert dict(cfg.MODEL.SEGCLASSICS[part]) == SEGCLASSICS_DEFAULTS[part]
    # detectron2's merge checks names and types against the defaults
    with pytest.raises(KeyError, match="Non-existent config key: MODEL.SEGCLASSICS.UNET.BASE_CHANNEL"):
        cfg.merge_from_other_cfg(CfgNode({"MODEL": {"SEGCLASSICS": {"UNET": {"BASE_CHANNEL": 16}}}}))
    with pytest.raises(ValueError, match="Type mismatch .* for config key: MODEL.SEGCLASSICS.UNET.DEPTH"):
        cfg.merge_from_other_cfg(CfgNode({"MODEL": {"SEGCLASSICS": {"UNET": {"DEPTH": "five"}}}}))


@pytest.mark.parametrize("part", PARTS)
def test_unknown_key_or_wrong_type_in_a_hand_built_node(part):
    cfg = get_cfg()
    cfg.MODEL.SEGCLASSICS = CfgNode({part: CfgNode({"NO_SUCH_KEY": 1}, new_allowed=True)}, new_allowed=True)
    with pytest.raises(ValueError, match=rf"unknown MODEL.SEGCLASSICS.{part} keys \['NO_SUCH_KEY'\]; valid: "):
        part_options(cfg, part)
    key, default = next((k, v) for k, v in SEGCLASSICS_DEFAULTS[part].items() if isinstance(v, (int, str)))
    cfg.MODEL.SEGCLASSICS = CfgNode({part: CfgNode({key: [1]}, new_allowed=True)}, new_allowed=True)
    with pytest.raises(ValueError, match=rf"MODEL.SEGCLASSICS.{part}.{key} must be a {type(default).__name__}"):
        part_options(cfg, part)


def test_part_options_are_keyword_arguments():
    cfg = add_segclassics_config(get_cfg())
    cfg.MODEL.SEGCLASSICS.UNET.NORM = "BN"
    assert part_options(cfg, "UNET") == dict(base_channels=64, depth=5, padding="valid", norm="BN", dropout=0.0)
    assert part_options(get_cfg(), "VGG16")["norm"] is None  # "" = no norm; defaults without the node
    assert part_options(cfg, "SEGNET")["widths"] is None  # [] = the paper's widths


def test_shipped_yaml_builds_the_unet_it_describes(repo_root):
    cfg = add_segclassics_config(get_cfg())
    cfg.merge_from_file(str(repo_root / "configs/detectron2/unet_synthetic.yaml"))
    model = build_model(cfg)
    enc = model.backbone.module
    assert (enc.channels[0], enc.depth, enc.padding, enc.norm) == (16, 4, "same", "BN")


def test_each_part_is_read_by_a_from_config():
    """Every node is used: a value set in it reaches the built part."""
    cfg = add_segclassics_config(get_cfg())
    cfg.MODEL.SEGCLASSICS.VGG16.WIDTHS = [4, 4, 8, 8, 8]
    cfg.MODEL.SEGCLASSICS.VGG16.FC_CHANNELS = 8
    cfg.MODEL.SEGCLASSICS.VGG16.NORM = "GN"
    cfg.MODEL.SEGCLASSICS.FCN.VARIANT = "32s"
    cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["fc7"]
    from segclassics.detectron2.fcn_head import FCNSemSegHead
    from segclassics.detectron2.vgg16_backbone import VGG16Backbone

    bb = VGG16Backbone(cfg, ShapeSpec(channels=3))
    assert bb.norm == "GN" and bb.fc_channels == 8
    assert FCNSemSegHead(cfg, bb.output_shape()).module.variant == "32s"


def test_docstring_names_only_what_exists():
    """The module docstring's table names existing parts and registered names."""
    from detectron2.modeling import BACKBONE_REGISTRY, SEM_SEG_HEADS_REGISTRY

    doc = d2config.__doc__
    assert set(re.findall(r"MODEL\.SEGCLASSICS\.([A-Z0-9]+)``", doc)) == set(PARTS)
    registered = set(BACKBONE_REGISTRY._obj_map) | set(SEM_SEG_HEADS_REGISTRY._obj_map)
    named = set(re.findall(r"``((?:SETR|VGG16|FCN|SegNet|build_paper_unet)\w*)``", doc))
    assert named and named <= registered, named - registered
