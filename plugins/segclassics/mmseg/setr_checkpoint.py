"""Whole SETR checkpoints for the mmseg models of our configs (a helper, not a registered class).

``segclassics.models.vit_convert`` converts timm / mmseg / official SETR weights to the keys of
the framework-free :class:`segclassics.models.setr_heads.SETR`; an ``EncoderDecoder`` built from
``configs/_base_/models/setr_*.py`` holds the same modules under mmseg's names.
"""

from __future__ import annotations

import re
from typing import Dict, Mapping

import torch

__all__ = ["setr_checkpoint_to_mmseg"]


def setr_checkpoint_to_mmseg(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``backbone.*`` stays; ``neck.*`` -> ``neck.module.*``, ``decode_head.*`` ->
    ``decode_head.module.*``, ``aux_heads.K.*`` -> ``auxiliary_head.K.module.*`` (our mmseg
    adapters wrap each framework-free module as ``.module``). Other keys are kept, for the key
    check to report."""
    out = {}
    for k, v in state_dict.items():
        m = re.match(r"aux_heads\.(\d+)\.(.+)$", k)
        if m:
            k = f"auxiliary_head.{m.group(1)}.module.{m.group(2)}"
        elif k.startswith(("neck.", "decode_head.")):
            head, rest = k.split(".", 1)
            k = f"{head}.module.{rest}"
        out[k] = v
    return out
