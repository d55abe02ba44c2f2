"""torch hub's URL checkpoints read by :mod:`segclassics.utils.reader`.

``torch.hub.load_state_dict_from_url`` (also reachable as ``torch.utils.model_zoo.load_url``, and
imported by name into torchvision's weights API, ``Weights.get_state_dict``) unpickles with
``weights_only=False`` unless its caller asks otherwise: a config that builds a torchvision
backbone with pretrained weights, or any code of a user's config that calls it, would run what
the downloaded pickle names. :func:`read_hub_downloads_checked` (called when
``segclassics.openmmlab`` or ``segclassics.detectron2`` is imported) replaces those three names by
:func:`load_state_dict_from_url_checked`: the file is downloaded into torch hub's cache as before
and read as plain data by :func:`segclassics.utils.reader.read_checkpoint`; a pickle that asks to
run code is one :class:`~segclassics.utils.reader.UnsafeCheckpointError` naming the URL.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import torch.hub
import torch.utils.model_zoo

from segclassics.utils.reader import download, read_checkpoint

_ORIGINAL = torch.hub.load_state_dict_from_url


def load_state_dict_from_url_checked(
    url: str,
    model_dir: Optional[str] = None,
    map_location: Any = None,
    progress: bool = True,
    check_hash: bool = False,
    file_name: Optional[str] = None,
    weights_only: bool = False,
) -> Any:
    """``torch.hub.load_state_dict_from_url`` with the same arguments and cache, reading the file
    through the reader whatever ``weights_only`` says (``check_hash``: the reader's download
    always checks a ``NAME-<sha256 prefix>.EXT`` name against its hash; ``file_name``: the cache
    name, as torch hub's)."""
    cached = download(url, model_dir, progress, file_name)
    return read_checkpoint(cached, map_location=map_location or "cpu", name=url)


def read_hub_downloads_checked() -> None:
    """Route torch hub's, model_zoo's and (when imported) torchvision's URL loading through
    :func:`load_state_dict_from_url_checked`. Idempotent."""
    try:  # torchvision binds the name when its models package is imported: bind it first, then replace
        import torchvision.models._api  # noqa: F401
    except ImportError:
        pass
    torch.hub.load_state_dict_from_url = load_state_dict_from_url_checked
    torch.utils.model_zoo.load_url = load_state_dict_from_url_checked
    for module_name in ("torchvision._internally_replaced_utils", "torchvision.models._api"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "load_state_dict_from_url"):
            module.load_state_dict_from_url = load_state_dict_from_url_checked
