"""detectron2 yaml-config keys for segclassics parts: ``MODEL.SEGCLASSICS.<PART>``.

Every yaml option our backbones and heads read lives in one node per part, with the typed
defaults of :data:`SEGCLASSICS_DEFAULTS`:

==========================  ==============================================================
``MODEL.SEGCLASSICS.VGG16``  ``VGG16Backbone`` / ``build_vgg16_fpn_backbone`` (FPN on it)
``MODEL.SEGCLASSICS.FCN``    ``FCNSemSegHead``
``MODEL.SEGCLASSICS.VIT``    ``SETRViTBackbone``
``MODEL.SEGCLASSICS.SFP``    ``build_setr_vit_sfp_backbone`` (ViTDet's pyramid on it)
``MODEL.SEGCLASSICS.SETR``   ``SETRSemSegHead``
``MODEL.SEGCLASSICS.UNET``   ``build_paper_unet_backbone`` / ``PaperUNetSemSegHead``
                            (= ``build_paper_unet_sem_seg_head``)
``MODEL.SEGCLASSICS.TILE``   ``OverlapTileSemanticSegmentor`` (``META_ARCHITECTURE``)
``MODEL.SEGCLASSICS.SEGNET`` ``SegNetEncoderBackbone`` / ``SegNetSemSegHead``
==========================  ==============================================================

e.g.::

    MODEL:
      BACKBONE: {NAME: "build_paper_unet_backbone"}
      SEGCLASSICS:
        UNET: {BASE_CHANNELS: 16, DEPTH: 4, PADDING: "same", NORM: "BN"}

:func:`add_segclassics_config` adds the nodes (``tools/train.py`` calls it for every yaml
config), so detectron2's merge refuses a misspelt key or a value of the wrong type.
:func:`part_options` reads one part for a ``from_config``: defaults for missing keys, and the
same refusal for a node built in code. Keys are the keyword arguments in upper case; an
empty value (``""``, ``[]``) means the argument's default, ``None`` (e.g. ``NORM: ""`` = no
norm, detectron2's convention). Lazy configs do not need any of this: they call our classes
with keyword arguments.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

from detectron2.config import CfgNode

from ..errors import UserError

__all__ = ["SEGCLASSICS_DEFAULTS", "add_segclassics_config", "merge_or_report", "part_options"]

YAML_KEYS_HINT = "detectron2 yaml keys are those of detectron2.config.get_cfg() plus MODEL.SEGCLASSICS.*"

SEGCLASSICS_DEFAULTS: Dict[str, dict] = {
    # FCN's reference geometry (Long et al., voc-fcn*/net.py)
    "VGG16": dict(
        NORM="",
        WITH_FC=True,
        OUT_FEATURES=["pool3", "pool4", "fc7"],
        CONV1_1_PADDING=100,
        FC6_PADDING=0,
        CEIL_MODE=True,
        DROPOUT=0.5,
        WIDTHS=[],
        FC_CHANNELS=4096,
        SIZE_DIVISIBILITY=0,
        PRETRAINED="",
    ),
    "FCN": dict(
        VARIANT="8s", MODE="caffe", AT_ONCE=False, LEARN_FINAL_UPSAMPLE=False, LEARN_INTERMEDIATE_UPSAMPLE=True
    ),
    "VIT": dict(
        IMG_SIZE=224,
        PATCH_SIZE=16,
        EMBED_DIM=768,
        DEPTH=12,
        NUM_HEADS=12,
        MLP_RATIO=4.0,
        QKV_BIAS=True,
        OUT_INDICES=[-1],
        OUT_FEATURES=[],
        DROP_PATH_RATE=0.0,
        CLASS_TOKEN=False,
        FINAL_NORM=False,
        INTERPOLATE_MODE="bicubic",
        WITH_CP=False,
        PRETRAINED="",
        PRETRAINED_FORMAT="auto",
    ),
    # ViTDet's SimpleFeaturePyramid (Li et al. 2022, Sec. 3) on the ViT's IN_FEATURE; SQUARE_PAD 0: none
    "SFP": dict(IN_FEATURE="last_feat", SCALE_FACTORS=[4.0, 2.0, 1.0, 0.5], SQUARE_PAD=0),
    # SETR-PUP on the layers of MODEL.SEM_SEG_HEAD.IN_FEATURES; AUX_FEATURES: Z^10, Z^15, Z^20, Z^24
    "SETR": dict(DECODER="pup", CHANNELS=256, AUX_FEATURES=[], AUX_WEIGHT=0.4, NORM="BN"),
    # the paper's UNet (Ronneberger et al. 2015, Sec. 2)
    "UNET": dict(BASE_CHANNELS=64, DEPTH=5, PADDING="valid", NORM="", DROPOUT=0.0),
    # SegNet (VGG16 encoder); ARCH "basic": SegNet-Basic with CHANNELS, NUM_STAGES, KERNEL_SIZE
    "SEGNET": dict(ARCH="vgg16", WIDTHS=[], CHANNELS=64, NUM_STAGES=4, KERNEL_SIZE=7, CEIL_MODE=True),
    # overlap-tile inference (paper Sec. 2, Fig. 2): input tile 572 px -> 388 px output for the paper's net
    "TILE": dict(TILE_SIZE=572, BATCH_TILES=4),
}


def add_segclassics_config(cfg: CfgNode) -> CfgNode:
    """Add ``MODEL.SEGCLASSICS.<PART>`` with the typed defaults of :data:`SEGCLASSICS_DEFAULTS`."""
    node = cfg.MODEL.get("SEGCLASSICS")
    if node is None:
        cfg.MODEL.SEGCLASSICS = node = CfgNode()
    for part, defaults in SEGCLASSICS_DEFAULTS.items():
        if part not in node:
            node[part] = CfgNode({k: (list(v) if isinstance(v, list) else v) for k, v in defaults.items()})
    return cfg


def merge_or_report(cfg: CfgNode, file: str, opts: Optional[Sequence[str]] = None) -> CfgNode:
    """``cfg.merge_from_file(file)``, or with ``opts`` ``cfg.merge_from_list(opts)`` (the overrides of
    that file's run), yacs's refusals (unknown key, wrong type, odd-length list) as one
    :class:`UserError` naming the file. The yaml reader's own errors (not valid YAML, a python tag)
    are already such a line and pass through."""
    try:
        if opts is None:
            cfg.merge_from_file(file)  # the file and its _BASE_ files go through segclassics' yaml reader
        else:
            cfg.merge_from_list(list(opts))
    except UserError:
        raise
    except (KeyError, AssertionError, ValueError) as exc:
        where = file if opts is None else f"override for {file}"
        text = str(exc.args[0]).splitlines()[0] if exc.args else type(exc).__name__
        raise UserError(f"{where}: {text} ({YAML_KEYS_HINT})") from exc
    return cfg


def _type_ok(value, default) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default)) and not (isinstance(value, bool) and not isinstance(default, bool))


def part_options(cfg: CfgNode, part: str) -> dict:
    """``MODEL.SEGCLASSICS.<part>`` as keyword arguments: lower-case names, defaults for missing
    keys, empty values as ``None``, lists for sequences. Unknown keys or values of the wrong type
    raise a ``ValueError`` naming the valid keys."""
    defaults = SEGCLASSICS_DEFAULTS[part]
    root = cfg.MODEL.get("SEGCLASSICS", None) if hasattr(cfg.MODEL, "get") else None
    node = dict((root or {}).get(part, None) or {})
    unknown = sorted(set(node) - set(defaults))
    if unknown:
        raise ValueError(f"unknown MODEL.SEGCLASSICS.{part} keys {unknown}; valid: {sorted(defaults)}")
    out = {}
    for key, default in defaults.items():
        value = node.get(key, default)
        if not _type_ok(value, default):
            raise ValueError(
                f"MODEL.SEGCLASSICS.{part}.{key} must be a {type(default).__name__} like {default!r}, got {value!r}"
            )
        if isinstance(value, tuple):
            value = list(value)
        out[key.lower()] = None if value in ("", []) else value
    return out
