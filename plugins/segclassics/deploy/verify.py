"""Check an exported graph in onnxruntime against the PyTorch module it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

#: fp32 criterion: max |onnxruntime - torch| over all logits.
TOLERANCE = 1e-4


@dataclass(frozen=True)
class Check:
    """One input shape: ``max_abs_diff`` of the outputs (for labels: the fraction of differing
    pixels), the largest |torch output| for scale, the output shape, and the fraction of output
    values beyond the tolerance."""

    input_shape: Tuple[int, ...]
    output_shape: Tuple[int, ...]
    max_abs_diff: float
    max_abs_output: float
    labels: bool = False
    fraction_over: float = 0.0

    def passed(self, tolerance: float = TOLERANCE) -> bool:
        return self.max_abs_diff == 0 if self.labels else self.max_abs_diff <= tolerance

    def line(self, tolerance: float = TOLERANCE) -> str:
        shape = "x".join(str(s) for s in self.input_shape)
        verdict = "ok" if self.passed(tolerance) else "FAILED"
        if self.labels:
            return f"{shape}: labels differ at {self.max_abs_diff:.2%} of pixels ({verdict})"
        where = f" at {self.fraction_over:.3%} of the logits" if not self.passed(tolerance) else ""
        return (
            f"{shape}: max |onnxruntime - torch| = {self.max_abs_diff:.2e}{where} (logits up to "
            f"{self.max_abs_output:.2f}; criterion {tolerance:g}: {verdict})"
        )


def session(path: str, threads: Optional[int] = None):
    """A CPU ``onnxruntime.InferenceSession`` (``threads``: intra-op threads, default onnxruntime's)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def random_images(shape: Sequence[int], normalized: bool, seed: int = 0) -> torch.Tensor:
    """Test input: 0..255 pixels (``normalized=False``) or roughly unit-variance values."""
    g = torch.Generator().manual_seed(seed)
    if normalized:
        return torch.randn(*shape, generator=g)
    return torch.randint(0, 256, tuple(shape), generator=g).float()


#: SegNet inputs for verification keep every 2x2 pooling window this far from a tie.
MIN_POOL_GAP = 1e-5


def min_pool_gap(module: nn.Module, x: torch.Tensor) -> float:
    """Smallest gap between the two largest values of any SegNet encoder 2x2 pooling window
    (with a positive maximum) when ``module`` runs on ``x``.

    SegNet unpools each decoder value at its window's argmax (Sec. 3). Where the two largest values
    differ by less than fp32 rounding (~1e-6), any two fp32 implementations (PyTorch fp32 and
    fp64 included) may take different argmaxes and move logits by O(0.1-1): such an input says
    nothing about whether a graph is right."""
    import torch.nn.functional as F

    from segclassics.models.segnet import SegNetEncoder

    encoder = next(m for m in module.modules() if isinstance(m, SegNetEncoder))
    captured = []
    handle = encoder.register_forward_pre_hook(lambda _, args: captured.append(args[0]))
    try:
        with torch.no_grad():
            module(x)
    finally:
        handle.remove()
    gaps, h = [], captured[0]
    with torch.no_grad():
        for names in encoder._stage_layers:
            for name in names:
                h = getattr(encoder, name)(h)
            padded = F.pad(h, (0, h.shape[-1] % 2, 0, h.shape[-2] % 2), value=float("-inf"))
            top2 = padded.unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2).topk(2, dim=-1).values
            positive = top2[..., 0] > 0
            if positive.any():
                gaps.append(float((top2[..., 0] - top2[..., 1])[positive].min()))
            h = F.max_pool2d(h, 2, 2, ceil_mode=True)
    return min(gaps) if gaps else float("inf")


def tie_free_images(
    module: nn.Module, shapes: Sequence[Sequence[int]], normalized: bool, tries: int = 20
) -> List[torch.Tensor]:
    """One random input per shape whose SegNet pooling windows are all at least
    :data:`MIN_POOL_GAP` from a tie (see :func:`min_pool_gap`); seeds ``i, i + 1000, ...`` are
    tried in turn, and the last is kept if none of ``tries`` qualifies."""
    images = []
    for i, shape in enumerate(shapes):
        for t in range(tries):
            x = random_images(shape, normalized, seed=i + 1000 * t)
            if min_pool_gap(module, x) >= MIN_POOL_GAP:
                break
        images.append(x)
    return images


@dataclass(frozen=True)
class DetectionCheck:
    """One image through an instance-segmentation graph: detections found by each, and the max
    abs difference of boxes, scores and mask probabilities between matched detections."""

    input_shape: Tuple[int, ...]
    torch_detections: int
    onnx_detections: int
    max_abs_diff: dict
    same_classes: bool

    def passed(self, tolerance: float = TOLERANCE) -> bool:
        return (
            self.torch_detections == self.onnx_detections
            and self.same_classes
            and all(v <= tolerance for k, v in self.max_abs_diff.items() if k != "boxes")
        )

    def line(self, tolerance: float = TOLERANCE) -> str:
        shape = "x".join(str(s) for s in self.input_shape)
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in self.max_abs_diff.items())
        verdict = "ok" if self.passed(tolerance) else "FAILED"
        return (
            f"{shape}: {self.torch_detections} detections in PyTorch, {self.onnx_detections} in onnxruntime; "
            f"max abs diff {diffs} (criterion {tolerance:g} on scores and masks: {verdict})"
        )


def match_detections(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """For each box of ``a`` the index of the closest (max-norm) unused box of ``b``: detections
    with scores equal to ~1e-7 may come out in another order."""
    order, used = [], set()
    for box in boxes_a:
        dist = np.abs(boxes_b - box).max(axis=1)
        dist[list(used)] = np.inf
        j = int(np.argmin(dist))
        used.add(j)
        order.append(j)
    return np.array(order, dtype=np.int64)


def compare_detections(
    path: str, module: nn.Module, names: Sequence[str], images: Sequence[torch.Tensor]
) -> List[DetectionCheck]:
    """``module(image)`` and the graph return ``names`` (``boxes``, ``classes``, ``masks``,
    ``scores``, ``image_size``); boxes are compared in pixels (reported, not held to 1e-4:
    coordinates of hundreds of pixels carry fp32 rounding of ~1e-5 each)."""
    sess = session(path)
    checks = []
    for image in images:
        with torch.no_grad():
            ref = dict(zip(names, (t.numpy() for t in module(image))))
        out = dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: image.numpy()})))
        n_ref, n_out = len(ref["scores"]), len(out["scores"])
        diffs, same = {}, n_ref == n_out
        if same and n_ref:
            j = match_detections(ref["boxes"], out["boxes"])
            same = bool((ref["classes"] == out["classes"][j]).all())
            diffs = {k: float(np.abs(ref[k] - out[k][j]).max()) for k in ("boxes", "scores", "masks")}
        checks.append(DetectionCheck(tuple(image.shape), n_ref, n_out, diffs, same))
    return checks


def compare(path: str, module: nn.Module, inputs: Sequence[torch.Tensor]) -> List[Check]:
    """Run every input through ``module`` (eval, no grad) and the ONNX graph at ``path``."""
    sess = session(path)
    name = sess.get_inputs()[0].name
    module.eval()
    checks = []
    for x in inputs:
        with torch.no_grad():
            ref = module(x).numpy()
        out = sess.run(None, {name: x.numpy()})[0]
        if out.shape != ref.shape:
            raise AssertionError(
                f"onnxruntime output {out.shape} != torch output {ref.shape} for input {tuple(x.shape)}"
            )
        labels = not np.issubdtype(ref.dtype, np.floating)
        diff = float(np.mean(out != ref)) if labels else float(np.abs(out - ref).max())
        over = float(np.mean(out != ref)) if labels else float(np.mean(np.abs(out - ref) > TOLERANCE))
        checks.append(Check(tuple(x.shape), tuple(ref.shape), diff, float(np.abs(ref).max()), labels, over))
    return checks
