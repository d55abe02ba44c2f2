"""Command line of ``tools/publish_model.py``: a training checkpoint -> a file to publish.

    publish_model.py IN OUT [--trust-checkpoint] [--debug]

Writes the weights of IN (any framework's checkpoint) with its plain metadata (mmengine:
``meta.dataset_meta`` classes/palette, iteration, config text; detectron2: iteration) and
nothing else (no optimizer, scheduler or message hub), under the framework's key
(``state_dict`` for mmengine, ``model`` for detectron2), so ``torch.load`` with its default
``weights_only=True``, mmseg's ``init_model``, mmdet's ``init_detector`` and detectron2's
``DetectionCheckpointer`` read it with no allow-list.

As mmseg's ``tools/misc/publish_model.py``, the file name gets the first 8 hex digits of the
file's SHA-256: OUT ``unet.pth`` becomes ``unet-1a2b3c4d.pth`` (the full hash is printed), so a
download can be checked against its name. IN is read as plain data; a pickle that would run
code is refused unless ``--trust-checkpoint`` (for legacy files whose origin you trust).
"""

from __future__ import annotations

import argparse
import hashlib
import os
from typing import Optional, Sequence, Tuple

from ..errors import UserError
from ..utils.cli_args import add_debug, add_trust_checkpoint
from ..utils.reporting import run_reporting_user_errors


def publish_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="publish_model.py",
        description="Write a checkpoint's weights + plain metadata "
        "as a weights-only file named with its SHA-256 prefix.",
    )
    p.add_argument(
        "in_file",
        metavar="IN",
        help="checkpoint (mmengine iter_N.pth / best_*.pth, detectron2 model_*.pth, last_weights.pth)",
    )
    p.add_argument("out_file", metavar="OUT", help="output name; written as <OUT without .pth>-<sha256[:8]>.pth")
    p.add_argument("--fp16", action="store_true", help="store floating-point weights as float16 (half the size)")
    add_trust_checkpoint(p)
    add_debug(p)
    return p


def publish(in_file: str, out_file: str, trusted: bool = False, half: bool = False) -> Tuple[str, str]:
    """Write ``in_file``'s weights-only copy as ``<out_file stem>-<sha256[:8]><ext>`` (OUT a folder:
    ``OUT/<IN stem>-<sha256[:8]>.pth``); returns (that path, the full SHA-256). ``half``: float16
    weights (:func:`segclassics.utils.checkpoint.published_payload`)."""
    import io

    import torch

    from segclassics.utils.checkpoint import published_payload
    from segclassics.utils.reader import require_checkpoint
    from segclassics.utils.writer import check_writable, open_for_write

    require_checkpoint(in_file)
    if os.path.isdir(out_file) or out_file.endswith(os.sep):
        out_file = os.path.join(out_file, os.path.basename(in_file))
    stem, ext = os.path.splitext(out_file)
    if ext not in (".pth", ".pt"):
        stem, ext = out_file, ".pth"
    if os.path.abspath(in_file) == os.path.abspath(out_file):
        raise UserError(f"OUT {out_file!r} is IN: give another name (the input is kept)")
    check_writable(f"{stem}-00000000{ext}", what="OUT")  # the folder, before reading IN
    # the final name depends on the content: it is hashed in memory, then written once
    buffer = io.BytesIO()
    torch.save(published_payload(in_file, trusted=trusted, half=half), buffer)
    sha = hashlib.sha256(buffer.getbuffer()).hexdigest()
    final = f"{stem}-{sha[:8]}{ext}"
    if os.path.isfile(final) and _sha256_of(final) == sha:
        return final, sha  # published before, byte for byte: nothing to write
    with open_for_write(final, what="OUT") as f:
        f.write(buffer.getbuffer())
    return final, sha


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish_main(argv: Optional[Sequence[str]] = None) -> int:
    args = publish_parser().parse_args(argv)

    def run() -> int:
        final, sha = publish(args.in_file, args.out_file, trusted=args.trust_checkpoint, half=args.fp16)
        print(f"published: {final} (sha256 {sha})")
        return 0

    return run_reporting_user_errors(run, args.debug, trust_flag=True)
