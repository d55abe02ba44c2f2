"""Every checkpoint mmengine loads, by path or by name, read by :mod:`segclassics.utils.reader`.

mmengine 0.10.7 reads checkpoints through ``CheckpointLoader``, one loader per name scheme:
local paths with ``torch.load`` (weights-only since torch 2.6, which refuses mmengine's own
message hub), and ``http(s)://``, ``torchvision://``, ``open-mmlab://``, ``mmcls://`` ... through
``torch.utils.model_zoo.load_url``, which unpickles with ``weights_only=False``: a ``load_from``
or ``init_cfg=dict(type='Pretrained', checkpoint=URL)`` would run whatever the downloaded pickle
names. When this module is imported (with ``segclassics.openmmlab``), every scheme mmengine
knows is registered again here: the name is resolved as mmengine resolves it (its own model
tables), the bytes are fetched as mmengine fetches them, and what they hold is read by
:func:`segclassics.utils.reader.read_checkpoint`. A scheme added later by someone else is
refused by :func:`check_every_scheme_is_ours` rather than read unchecked.

mmengine's message-hub classes are allow-listed process-wide
(:func:`allow_mmengine_checkpoints`), so mmseg's ``init_model`` and
mmdet's ``init_detector`` read our training checkpoints under torch's weights-only loading.
"""

from __future__ import annotations

import functools
import io
import os.path as osp
import tempfile

import mmengine.logging.history_buffer  # noqa: F401  (so mmengine_globals() names the real class)
import torch
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from segclassics.utils.reader import NUMPY_GLOBALS, UnsafeCheckpointError, mmengine_globals, read_checkpoint


def allow_mmengine_checkpoints() -> None:
    """Allow-list, process-wide, exactly the classes mmengine's checkpoints hold besides tensors,
    so that mmengine's own loaders (``load_checkpoint``, ``Runner.resume``, mmseg's
    ``init_model``, mmdet's ``init_detector``) read them under torch's ``weights_only=True``."""
    torch.serialization.add_safe_globals([*NUMPY_GLOBALS, *mmengine_globals()])


allow_mmengine_checkpoints()

#: ``--trust-checkpoint`` of the running tool: a full unpickle, for legacy files the user vouches for.
_TRUSTED = {"value": False}


def _read(source, map_location, name=None):
    return read_checkpoint(source, trusted=_TRUSTED["value"], map_location=map_location or "cpu", name=name)


def load_from_local_checked(filename, map_location=None):
    """Local paths (the name's ``load_from_`` prefix is what mmengine strips when it logs the backend)."""
    return _read(osp.expanduser(filename), map_location)


def load_from_http_checked(filename, map_location=None, model_dir=None, progress=False):
    """``http://``, ``https://``: downloaded into torch hub's cache, then read as a local file."""
    from mmengine.dist import get_dist_info

    from segclassics.utils.reader import download

    rank, world_size = get_dist_info()
    if rank == 0:  # as mmengine: rank 0 downloads, the others wait and read the cached file
        download(filename, model_dir, progress)
    if world_size > 1:
        import torch.distributed

        torch.distributed.barrier()
    return read_checkpoint(filename, trusted=_TRUSTED["value"], map_location=map_location or "cpu", model_dir=model_dir)


def _named(table: dict, scheme: str, name: str) -> str:
    if name not in table:
        raise UnsafeCheckpointError(f"{scheme}{name}: mmengine knows no checkpoint of that name")
    return table[name]


def load_from_torchvision_checked(filename, map_location=None):
    """``torchvision://NAME`` (``modelzoo://NAME``): torchvision's URL for NAME."""
    scheme = "modelzoo://" if filename.startswith("modelzoo://") else "torchvision://"
    url = _named(mm_checkpoint.get_torchvision_models(), scheme, filename[len(scheme) :])
    return load_from_http_checked(url, map_location)


def load_from_openmmlab_checked(filename, map_location=None):
    """``open-mmlab://NAME`` / ``openmmlab://NAME``: OpenMMLab's URL (or a file in mmengine's home)."""
    scheme = "open-mmlab://" if filename.startswith("open-mmlab://") else "openmmlab://"
    name = filename[len(scheme) :]
    name = mm_checkpoint.get_deprecated_model_names().get(name, name)
    url = _named(mm_checkpoint.get_external_models(), scheme, name)
    if url.startswith(("http://", "https://")):
        return load_from_http_checked(url, map_location)
    return _read(osp.join(mm_checkpoint._get_mmengine_home(), url), map_location)


def load_from_mmcls_checked(filename, map_location=None):
    """``mmcls://NAME``: the mmcls model zoo URL, keys renamed as mmengine does."""
    url = _named(mm_checkpoint.get_mmcls_models(), "mmcls://", filename[len("mmcls://") :])
    return mm_checkpoint._process_mmcls_checkpoint(load_from_http_checked(url, map_location))


def load_from_backend_checked(filename, map_location=None, backend="petrel"):
    """``s3://``, ``petrel://``: the bytes from mmengine's file backend."""
    from mmengine.fileio import get_file_backend

    data = get_file_backend(filename, backend_args={"backend": backend}).get(filename)
    return _read(io.BytesIO(data), map_location, name=filename)


def load_from_pavi_checked(filename, map_location=None):
    """``pavi://``: downloaded by pavi's model cloud into a temporary folder."""
    try:
        from pavi import modelcloud
    except ImportError:
        raise UnsafeCheckpointError(f"{filename}: pavi:// checkpoints need the pavi package") from None
    model = modelcloud.get(filename[len("pavi://") :])
    with tempfile.TemporaryDirectory() as folder:
        local = osp.join(folder, model.name)
        model.download(local)
        return _read(local, map_location, name=filename)


#: mmengine 0.10.7's schemes and the reader-backed loader of each.
SCHEMES = {
    "": load_from_local_checked,
    "http://": load_from_http_checked,
    "https://": load_from_http_checked,
    "modelzoo://": load_from_torchvision_checked,
    "torchvision://": load_from_torchvision_checked,
    "open-mmlab://": load_from_openmmlab_checked,
    "openmmlab://": load_from_openmmlab_checked,
    "mmcls://": load_from_mmcls_checked,
    r"(\S+\:)?s3://": load_from_backend_checked,
    r"(\S+\:)?petrel://": load_from_backend_checked,
    "pavi://": load_from_pavi_checked,
}


def refuse_unknown_scheme(filename, map_location=None):
    raise UnsafeCheckpointError(
        f"{filename}: no checked reader for this checkpoint name's scheme; download the file and give its local path"
    )


def check_every_scheme_is_ours() -> None:
    """Replace any loader registered by someone else (a later import) by a refusal: mmengine's
    scheme table must hold only loaders that read through the reader."""
    ours = set(SCHEMES.values()) | {refuse_unknown_scheme}
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if getattr(loader, "func", loader) not in ours:
            CheckpointLoader.register_scheme(prefixes=prefix, loader=refuse_unknown_scheme, force=True)


def use_checked_loaders(trusted: bool = False) -> None:
    """Register :data:`SCHEMES` in mmengine's ``CheckpointLoader`` (``trusted``: the tool's
    ``--trust-checkpoint``)."""
    _TRUSTED["value"] = bool(trusted)
    for prefix, loader in SCHEMES.items():
        named = functools.update_wrapper(functools.partial(loader), loader)
        CheckpointLoader.register_scheme(prefixes=prefix, loader=named, force=True)
    check_every_scheme_is_ours()


# the tools call it with their --trust-checkpoint; the old name stays for them
use_checked_local_loader = use_checked_loaders
use_checked_loaders()
