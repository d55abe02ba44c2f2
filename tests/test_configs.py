"""Every config we ship loads and builds its model (on the meta device: no memory, no time).

A config that no longer parses, names an unregistered type or passes a wrong argument
fails here, not in a user's first run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from helpers import REPO, SHIPPED_CONFIGS
from segclassics.engine.config_kind import D2_LAZY, MMENGINE, detect_config_kind

CONFIGS = [p for p in SHIPPED_CONFIGS if p.suffix == ".py"]  # the Python configs (yaml: test_every_config.py)


def test_configs_were_found():
    kinds = {detect_config_kind(str(p)) for p in CONFIGS}
    assert len(CONFIGS) >= 20 and kinds == {MMENGINE, D2_LAZY}


def build_model(path: Path, kind: str):
    if kind == MMENGINE:
        from mmengine.config import Config
        from mmengine.registry import MODELS, init_default_scope

        cfg = Config.fromfile(str(path))
        init_default_scope(cfg.default_scope)
        return MODELS.build(cfg.model)
    from detectron2.config import LazyConfig, instantiate

    return instantiate(LazyConfig.load(str(path)).model)


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(REPO / "configs")) for p in CONFIGS])
def test_config_builds_model(path):
    kind = detect_config_kind(str(path))
    try:
        with torch.device("meta"):
            model = build_model(path, kind)
    except RuntimeError as e:  # some framework parts call .item() while building (mmseg's ViT)
        if "meta" not in str(e):
            raise
        model = build_model(path, kind)
    assert sum(p.numel() for p in model.parameters()) > 0


def _setr_pup_vit_l_with_class_token():
    from helpers import setr_pup_vitl_param_count

    return setr_pup_vitl_param_count() + 2 * 1024  # + the class token and its position-embedding slot


def _fcn(variant):
    from helpers import paper_param_count

    return paper_param_count(variant)


def _segnet_vgg16():
    from segclassics.models.segnet import SegNet  # its count: tests/test_segnet.py's layer table

    return sum(p.numel() for p in SegNet(11).parameters())


def _unet():
    from helpers import paper_unet_param_count

    return paper_unet_param_count(1, 2)


# configs whose comment says they are the paper's network / setting: (independent count, the
# paper's figure in millions, how far that published rounding may be from the exact count)
PAPER_NETWORKS = {
    "unet/unet_valid_isbi2012.py": (_unet, 31.0, 0.05),  # Ronneberger et al. 2015: the 31.0 M net
    # FCN-VGG16 (the layer table of tests/test_fcn.py); "about 134.5 M" for FCN-8s
    "fcn/fcn32s_vgg16_voc12aug.py": (lambda: _fcn("32s"), None, None),
    "fcn/fcn32s_vgg16_voc12aug_cvpr.py": (lambda: _fcn("32s"), None, None),
    "fcn/fcn16s_vgg16_voc12aug.py": (lambda: _fcn("16s"), None, None),
    "fcn/fcn8s_vgg16_voc12aug.py": (lambda: _fcn("8s"), 134.5, 0.05),
    "fcn/fcn8s-atonce_vgg16_voc12aug.py": (lambda: _fcn("8s"), 134.5, 0.05),
    "detectron2/fcn8s-atonce_vgg16_voc12aug.py": (lambda: _fcn("8s"), 134.5, 0.05),
    "segnet/segnet_vgg16_camvid.py": (_segnet_vgg16, 29.5, 0.1),  # SegNet: "29.5M" (as tests/test_segnet.py)
    # SETR-PUP, ViT-L: ~318 M to 1 % (as tests/test_setr.py), the count exactly
    "setr/setr_pup_vit-l_ade20k.py": (_setr_pup_vit_l_with_class_token, 318, 3.18),
    "setr_ade20k.py": (_setr_pup_vit_l_with_class_token, 318, 3.18),
}


def test_every_config_headed_as_the_papers_is_checked():
    """A config whose first comment line says it is the paper's setting / network is in PAPER_NETWORKS."""
    claim = re.compile(r"the paper's (?:\w+ )?(?:setting|network)", re.I)
    said = {
        str(p.relative_to(REPO / "configs"))
        for p in CONFIGS
        if claim.search(next(line for line in p.read_text().splitlines() if line.strip()))
    }
    assert said and said <= set(PAPER_NETWORKS), said - set(PAPER_NETWORKS)


@pytest.mark.parametrize("config", sorted(PAPER_NETWORKS))
def test_paper_setting_configs_build_the_papers_network(config):
    count, figure, tolerance = PAPER_NETWORKS[config]
    path = REPO / "configs" / config
    with torch.device("meta"):
        model = build_model(path, detect_config_kind(str(path)))
    n = sum(p.numel() for p in model.parameters())
    assert n == count()
    if figure is not None:
        assert abs(n / 1e6 - figure) <= tolerance, n
