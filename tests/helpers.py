"""Helpers shared by several test modules (one place each; test modules import them from here):
the repository root, a tool's one error line, a checkpoint that runs code when unpickled and the
refusal it gets, untrained weights of a config, tools/infer.py in this process, and the paper
parameter counts (FCN-VGG16, UNet, SETR-PUP ViT-L) written out from the papers' layer tables."""

from __future__ import annotations

import os
import pickle
import socket
from pathlib import Path

import numpy as np
import torch

#: the checkout's root (the ``repo_root`` fixture returns it too)
REPO = Path(__file__).resolve().parents[1]

#: every config a user can run (configs/**/*.py and *.yaml), the one list the config tests take:
#: not the ``_base_`` parts, detectron2's ``common`` parts or the model-index ``metafile.yaml``
SHIPPED_CONFIGS = sorted(
    p
    for p in (REPO / "configs").rglob("*")
    if p.suffix in (".py", ".yaml")
    and p.name != "metafile.yaml"  # model-index metadata
    and "_base_" not in p.parts
    and "common" not in p.parts
)


def free_port() -> int:
    """A TCP port nobody listens on now: distributed tests never take a fixed port, which another
    suite or job on the same machine may hold (gloo's rendezvous then fails)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_root_overrides(root, loaders=("train", "val", "test")) -> list:
    """``--cfg-options`` pointing an mmengine config's ``<loader>_dataloader`` datasets at ``root``
    (e.g. the ``synthetic_root`` fixture), one ``<loader>_dataloader.dataset.data_root=ROOT`` each."""
    return [f"{loader}_dataloader.dataset.data_root={root}" for loader in loaders]


def error_line(proc):
    """The one ``error: ...`` line of a tool that exited with status 2 and printed no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return lines[0]


def error_message(proc):
    """:func:`error_line` without its ``error: `` prefix."""
    return error_line(proc)[len("error: ") :]


class _RunsCode:
    """Unpickling this calls ``os.system('touch MARKER')``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def malicious_checkpoint(path: Path, marker: Path) -> Path:
    """A checkpoint whose state dict is fine but which also carries an object that runs code."""
    if path.suffix == ".pkl":  # detectron2's model-zoo layout: numpy arrays in a plain pickle
        with open(path, "wb") as f:
            pickle.dump({"model": {"w": np.zeros(1)}, "__author__": "x", "meta": _RunsCode(marker)}, f)
    else:
        torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": {"x": _RunsCode(marker)}}, path)
    return path


def refusal(path: Path, tool: bool = True) -> str:
    """The refusal printed by a tool that takes --trust-checkpoint (``tool``), or raised by a
    library call (which names the hint that works everywhere)."""
    hint = (
        (
            "pass --trust-checkpoint (or trusted=True) to unpickle it fully, then save a safe copy with "
            "segclassics-publish-model"
        )
        if tool
        else "read it with trusted=True, or save a plain-data copy with "
        "segclassics-publish-model FILE OUT --trust-checkpoint"
    )
    return (
        f"{path}: refused to load: the file asks to run posix.system while unpickling, which a checkpoint "
        f"of weights never needs; if you trust this file and its origin, {hint}"
    )


def random_weights(config: Path, path: Path, overrides=(), meta=None) -> Path:
    """Untrained weights of ``config``'s model as a weights-only file (tests of the tool's
    mechanics, where training would add nothing), with the metadata ``meta``."""
    from segclassics.engine.config_loader import build_model, load_config
    from segclassics.utils.checkpoint import save_weights_only

    loaded = load_config(str(config), overrides)
    torch.manual_seed(0)
    model = build_model(loaded)
    return Path(
        save_weights_only(
            str(path), model.state_dict(), meta or {}, key="state_dict" if loaded.kind == "mmengine" else "model"
        )
    )


def run_infer(capsys, *argv):
    """tools/infer.py's entry point in this process (the tool itself runs in the security test)."""
    from segclassics.engine.infer_cli import infer_main

    rc = infer_main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# ----------------------------------------------------------------------------- paper parameter counts


def paper_param_count(variant: str, k: int = 21) -> int:
    """Parameters of FCN-VGG16 from the layer table (weights + biases), written out by hand."""
    vgg_convs = [
        (3, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 256),
        (256, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
    ]
    n = sum(3 * 3 * cin * cout + cout for cin, cout in vgg_convs)
    n += 7 * 7 * 512 * 4096 + 4096  # fc6 as a 7x7 convolution
    n += 4096 * 4096 + 4096  # fc7 as a 1x1 convolution
    n += 4096 * k + k  # score_fr
    if variant == "32s":
        return n + k * k * 64 * 64  # upscore (64x64, stride 32, no bias)
    n += 512 * k + k + k * k * 4 * 4  # score_pool4, upscore2 (4x4, stride 2)
    if variant == "16s":
        return n + k * k * 32 * 32  # upscore16
    n += 256 * k + k + k * k * 4 * 4  # score_pool3, upscore_pool4
    return n + k * k * 16 * 16  # upscore8


def paper_unet_param_count(in_channels: int = 1, num_classes: int = 2) -> int:
    """Independent count from the paper's Fig. 1: channels 64..1024, 3x3 convs with bias,
    2x2 up-convs halving the channels, final 1x1 conv to the classes."""
    ch = [64, 128, 256, 512, 1024]
    conv3 = lambda ci, co: 9 * ci * co + co  # noqa: E731
    n = 0
    cin = in_channels
    for c in ch:  # contracting path
        n += conv3(cin, c) + conv3(c, c)
        cin = c
    for c_hi, c in zip(ch[::-1], ch[-2::-1]):  # expansive path
        n += 4 * c_hi * c + c  # 2x2 up-conv
        n += conv3(2 * c, c) + conv3(c, c)
    return n + 64 * num_classes + num_classes  # 1x1 classifier


def setr_pup_vitl_param_count(num_classes=150, img=512, ch=256, d=1024, depth=24):
    """Independent count of SETR-PUP (ViT-L/16, ADE20K, 4 aux heads), from layer shapes."""
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    vit = depth * block + (3 * 16 * 16 * d + d) + (img // 16) ** 2 * d
    conv3 = lambda cin, cout: 9 * cin * cout + 2 * cout  # noqa: E731  conv (no bias) + BN affine
    cls = ch * num_classes + num_classes
    pup = 2 * d + conv3(d, ch) + 3 * conv3(ch, ch) + cls
    aux = 2 * d + conv3(d, ch) + cls
    return vit + pup + 4 * aux
