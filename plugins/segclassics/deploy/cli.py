"""Command line of ``tools/export_onnx.py`` (entry point: :func:`export_main`).

    python tools/export_onnx.py CONFIG [CHECKPOINT] --out model.onnx
        [--with-normalization] [--with-argmax] [--shape H W] [--verify-sizes HxW HxW]
        [--no-verify] [--opset 18] [--cfg-options KEY=VALUE ...] [--trust-checkpoint] [--debug]

Builds the config's model with its framework (``segclassics.engine.config_loader``), loads the
checkpoint as plain data (torch ``weights_only``), exports the semantic forward
(``segclassics.engine.semantic_forward``) with dynamic batch/height/width and checks the
graph in onnxruntime against PyTorch on two input sizes. Input errors print one ``error:``
line (exit 2); a graph that misses the 1e-4 criterion exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence, Tuple

import torch

from segclassics.errors import UserError, print_error_line
from segclassics.utils.cli_args import add_cfg_options, add_debug, add_overwrite, add_trust_checkpoint

from .export import DEFAULT_OPSET, SUPPORTED_OPSETS, export_onnx
from .families import Family
from .sizes import InvalidInputSizeError
from .verify import TOLERANCE, compare, random_images, tie_free_images
from .wrapper import ExportWrapper, Normalization


def _size(text: str) -> Tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size HxW such as 256x320")
    return int(parts[0]), int(parts[1])


def export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Export a semantic segmentation config (FCN, UNet, SegNet, SETR) to ONNX with dynamic "
        "batch/height/width and check it in onnxruntime against PyTorch."
    )
    p.add_argument("config", help="mmseg config or detectron2 LazyConfig (.py) / yaml")
    p.add_argument("checkpoint", nargs="?", help="trained weights (default: the config's initial weights)")
    p.add_argument("--out", required=True, help="ONNX file to write")
    p.add_argument(
        "--with-normalization",
        action="store_true",
        help="fold the data preprocessor in: the graph takes 0..255 images in the config's channel order",
    )
    p.add_argument("--with-argmax", action="store_true", help="output int64 labels (N, H, W) instead of logits")
    p.add_argument(
        "--shape",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="size of the images the export traces with (default: a valid size near the config's crop)",
    )
    p.add_argument(
        "--verify-sizes",
        type=_size,
        nargs="+",
        metavar="HxW",
        help="input sizes for the onnxruntime check (default: two valid sizes, batch 1 and 2)",
    )
    p.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"check onnxruntime against PyTorch (max abs difference <= {TOLERANCE:g})",
    )
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, choices=list(SUPPORTED_OPSETS), help="ONNX opset")
    add_cfg_options(p)
    add_trust_checkpoint(p)
    add_overwrite(p, "an --out file this run did not write")
    add_debug(p)
    return p


def _base_size(loaded, family: Family) -> int:
    """A typical input length: the config's crop size when it has one, else 128 (any valid)."""
    try:  # mmseg: model.data_preprocessor.size; detectron2 configs have no crop size there
        size = loaded.cfg["model"]["data_preprocessor"].get("size")
    except (AttributeError, KeyError, TypeError):
        size = None
    base = int(max(size)) if size else 128
    return family.sizes.at_least(base)


def default_sizes(family: Family, base: int) -> List[Tuple[int, int, int]]:
    """Two check sizes ``(batch, H, W)``: the base size (batch 1) and a non-square one with
    other valid lengths (batch 2; odd lengths where the model takes any size)."""
    rule = family.sizes
    return [(1, base, base), (2, rule.at_least(base * 3 // 4 + 1), rule.at_least(base * 5 // 4 + 1))]


def build(config: str, checkpoint: Optional[str], cfg_options: Sequence[str], trusted: bool, instances: bool = False):
    """Load the config, build its model, load the checkpoint; returns ``(loaded, model, family)``.

    ``family`` is None for a detectron2 Mask R-CNN when ``instances`` is allowed; any other
    model that is not an exportable semantic network raises ``UnsupportedModelError``.
    """
    from segclassics.engine.config_loader import build_model, load_config
    from segclassics.utils.checkpoint import load_state_dict_checked, read_state_dict

    from .families import find_family

    loaded = load_config(config, cfg_options)
    model = build_model(loaded, "cpu")
    family = None
    if not (instances and loaded.backend.is_instance_export(model)):
        family = find_family(model, loaded.file)
    if checkpoint:
        load_state_dict_checked(model, read_state_dict(checkpoint, trusted=trusted), source=checkpoint)
    return loaded, model.eval(), family


def wrap(loaded, model, with_normalization: bool, with_argmax: bool):
    """The :class:`ExportWrapper` and the ``SemanticForward`` it wraps."""
    from segclassics.engine.semantic_forward import semantic_forward

    sf = semantic_forward(loaded, model)
    norm = Normalization(sf.mean, sf.std, sf.reverse_channels) if with_normalization else None
    return ExportWrapper(sf.net, norm, with_argmax), sf


def describe_io(wrapper: ExportWrapper, sf, channels: int) -> Tuple[str, str]:
    if wrapper.normalization is not None:
        image = f"float32 (N, {channels}, H, W), 0..255 {sf.input_order} pixels"
    else:
        order = sf.input_order if not sf.reverse_channels else sf.input_order[::-1]
        image = (
            f"float32 (N, {channels}, H, W), {order} normalised as the config's preprocessor does "
            f"((x - mean) / std, mean={[round(v, 3) for v in sf.mean]}, std={[round(v, 3) for v in sf.std]})"
        )
    size = "(H, W)" if not sf.output_border else f"(H - {2 * sf.output_border}, W - {2 * sf.output_border})"
    output = f"int64 labels (N, {size[1:-1]})" if wrapper.argmax else f"float32 logits (N, K, {size[1:-1]})"
    return image, output


def _check_sizes(sizes: Sequence[Tuple[int, int]], what: str) -> None:
    from .sizes import MAX_SIZE

    for h, w in sizes:
        if min(h, w) < 1:
            raise InvalidInputSizeError(f"input size {h}x{w} is not valid for {what}: sizes are positive")
        if max(h, w) > MAX_SIZE:
            raise InvalidInputSizeError(f"input size {h}x{w} is larger than the exported graph's limit {MAX_SIZE}")


SEGNET_CHECK_SIZES = ((1, 64, 64), (2, 45, 61))  # (batch, H, W): odd sizes exercise the ceil-mode pools
SEGNET_NOTE = (
    "  note: SegNet unpools at each 2x2 window's argmax; where a window's two largest values differ "
    "by less than fp32 rounding (~1e-6), onnxruntime may pick the other one (so may PyTorch fp32 vs "
    "fp64), moving a decoder value by one pixel: a few logits change by O(0.1-1). The check picks "
    "inputs without such ties and found none for this size; try other --verify-sizes; see "
    "docs/inference.md, 'SegNet and fp32 ties'."
)


def _finish(results, out: str, family: Optional[Family] = None) -> int:
    for r in results:
        print("  verify " + r.line())
    if not all(r.passed() for r in results):
        if family is not None and family.argmax_unpooling:
            print(SEGNET_NOTE)
        print_error_line(f"{out}: onnxruntime differs from PyTorch by more than {TOLERANCE:g} (see above)")
        return 1
    return 0


def mask_rcnn_io(order: str) -> Tuple[str, str]:
    """(input, outputs) of an exported Mask R-CNN graph, as printed and stored in its metadata."""
    image = f"float32 (3, H, W), 0..255 {order} pixels; H and W dynamic (any size >= 1)"
    output = (
        "boxes (D, 4) x0 y0 x1 y1, classes (D,) int64, masks (D, 1, 28, 28) probabilities in each box, "
        "scores (D,), image_size (2,); D detections"
    )
    return image, output


def run_mask_rcnn_export(args, loaded, model) -> int:
    """detectron2 Mask R-CNN through detectron2's TracingAdapter (``segclassics.detectron2.onnx_export``)."""
    from segclassics.detectron2.onnx_export import OPSET, export_mask_rcnn
    from segclassics.engine.semantic_forward import detectron2_input_order
    from segclassics.utils.writer import path_for_write

    from .export import add_metadata
    from .verify import compare_detections

    if args.with_argmax:
        raise UserError("--with-argmax is for semantic segmentation; a Mask R-CNN graph returns detections")
    if args.opset != DEFAULT_OPSET:
        raise UserError(f"Mask R-CNN exports with opset {OPSET} (RoiAlign half_pixel); drop --opset")
    h, w = args.shape or (256, 320)
    checks = args.verify_sizes or [(h, w), (h * 3 // 4 + 1, w * 5 // 4 + 1)]
    _check_sizes([(h, w), *checks], "Mask R-CNN")
    order = detectron2_input_order(loaded)
    image, output = mask_rcnn_io(order)
    with path_for_write(args.out, what="--out") as tmp:  # atomic; an --out that is not ours is refused first
        adapter, names = export_mask_rcnn(model, tmp, random_images((3, h, w), normalized=False))
        add_metadata(
            tmp,
            dict(
                model="Mask R-CNN (detectron2)",
                config=os.path.basename(loaded.file),
                checkpoint=os.path.basename(args.checkpoint) if args.checkpoint else "none (initial weights)",
                input=image,
                output=output,
                input_order=order,
                opset=OPSET,
                exporter="detectron2 TracingAdapter + torch.onnx (TorchScript)",
            ),
        )
    print(f"exported Mask R-CNN ({args.config}) to {args.out} (opset {OPSET}, detectron2 tracing)")
    print(f"  input  'image': {image}")
    print(f"  outputs: {output}")
    if not args.verify:
        return 0
    images = [random_images((3, hh, ww), normalized=False, seed=i) for i, (hh, ww) in enumerate(checks)]
    return _finish(compare_detections(args.out, adapter, names, images), args.out)


def run_export(args) -> int:
    from segclassics.utils.writer import check_writable

    check_writable(args.out, what="--out")  # before the model is built and traced
    loaded, model, family = build(args.config, args.checkpoint, args.cfg_options, args.trust_checkpoint, instances=True)
    if family is None:
        return run_mask_rcnn_export(args, loaded, model)
    wrapper, sf = wrap(loaded, model, args.with_normalization, args.with_argmax)
    channels = len(sf.mean)
    rule = family.sizes
    if args.shape:
        h, w = rule.check(args.shape, family.name)
    else:
        base = _base_size(loaded, family)
        h, w = base, rule.at_least(base + 1)
    checks = [(1 + i % 2, *rule.check(s, family.name)) for i, s in enumerate(args.verify_sizes or [])] or default_sizes(
        family, _base_size(loaded, family)
    )
    if family.argmax_unpooling and not args.verify_sizes:
        # A well-posed check needs inputs without near-tied pooling windows (min_pool_gap); at
        # CamVid's 360x480 the millions of windows always hold some within 1e-6, at these sizes not.
        checks = list(SEGNET_CHECK_SIZES)
    if h == w:  # torch.export would tie height and width together
        w = rule.at_least(w + 1)
    normalized = wrapper.normalization is None
    image, output = describe_io(wrapper, sf, channels)
    metadata = dict(
        model=family.name,
        config=os.path.basename(loaded.file),
        checkpoint=os.path.basename(args.checkpoint) if args.checkpoint else "none (initial weights)",
        input=image,
        output=output,
        valid_sizes=rule.describe(),
        size_rule=dict(step=rule.step, offset=rule.offset, minimum=rule.minimum),
        mean=sf.mean,
        std=sf.std,
        input_order=sf.input_order,
        opset=args.opset,
        exporter=f"torch.export + torch.onnx (torch {torch.__version__.split('+')[0]})",
    )
    from segclassics.utils.writer import path_for_write

    with path_for_write(args.out, what="--out") as tmp:  # atomic; an --out that is not ours is refused first
        export_onnx(
            wrapper,
            tmp,
            random_images((2, channels, h, w), normalized),
            rule,
            output_name=wrapper.output_name,
            opset=args.opset,
            metadata=metadata,
        )
    print(f"exported {family.name} ({args.config}) to {args.out} (opset {args.opset})")
    print(f"  input  'image': {image}; batch, H and W dynamic; H, W: {rule.describe()}")
    print(f"  output '{wrapper.output_name}': {output}")
    if not args.checkpoint:
        print("  weights: the config's initial weights (no checkpoint given)")
    if not args.verify:
        return 0
    shapes = [(n, channels, hh, ww) for n, hh, ww in checks]
    if family.argmax_unpooling:  # inputs on which the comparison is well posed (no pooling ties)
        inputs = tie_free_images(wrapper, shapes, normalized)
    else:
        inputs = [random_images(shape, normalized, seed=i) for i, shape in enumerate(shapes)]
    return _finish(compare(args.out, wrapper, inputs), args.out, family)


def export_main(argv=None) -> int:
    from segclassics.utils.reporting import run_reporting_user_errors
    from segclassics.utils.writer import overwriting

    args = export_parser().parse_args(argv)
    with overwriting(args.overwrite):
        return run_reporting_user_errors(lambda: run_export(args), args.debug, args.config, trust_flag=True)


if __name__ == "__main__":
    sys.exit(export_main())
