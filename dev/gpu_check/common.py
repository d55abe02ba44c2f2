"""Shared by the parts of the GPU check: result recording, time boxes, parity statistics.

Each part runs in its own process (``run.py`` starts it with a deadline and kills it after), writes
its results to a JSON file after every item, so whatever finished survives a crash or a timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import traceback
from typing import Dict, Iterable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if os.path.join(ROOT, "plugins") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "plugins"))

import torch  # noqa: E402

# Peak dense bf16 tensor throughput of the H200 SXM (= H100 SXM), NVIDIA datasheet: 989.4 TFLOP/s
# without sparsity. MFU is reported against it (the usual definition: model FLOPs / time / peak).
H200_BF16_DENSE_PEAK_TFLOPS = 989.4

# Parity criteria (relative L2 error of a test tensor against CPU fp32, ||t - r|| / ||r||), from the
# unit round-off u of the arithmetic: fp32 u = 2^-24 ~ 6e-8; a length-K dot product has a typical
# relative error ~ sqrt(K) u (K <= ~5e4 here -> ~1e-5) and L layers add ~sqrt(L) (L <= ~50 -> x7),
# so ~1e-4 bounds fp32 outputs with room for order-of-summation differences (TF32 is switched off
# for the comparison). bf16 autocast rounds matmul/conv inputs to u = 2^-8 ~ 4e-3: ~sqrt(2) u per
# layer, growing ~sqrt(L) -> ~4e-2; 5e-2 is the criterion. Gradients pass through twice the
# layers and the products of both passes: 10x the output criterion. Reported, never a failure.
PARITY_CRITERIA = {"fp32": dict(output=1e-4, grad=1e-3), "bf16": dict(output=5e-2, grad=5e-1)}


def part_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="cuda")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for the CPU rehearsal")
    p.add_argument("--json", required=True, help="results file (rewritten after every item)")
    p.add_argument(
        "--deadline",
        type=float,
        required=True,
        help="end of this part, seconds since the epoch (counts its start-up too)",
    )
    p.add_argument("--data-root", default=os.path.join(ROOT, ".gpu_bundle", "data"))
    return p.parse_args()


class Recorder:
    """Results of one part; ``item()`` times a step, catches its error and records it."""

    def __init__(self, path: str, deadline: float):
        self.path = path
        self.start = time.time()
        self.deadline = deadline
        self.data: Dict[str, object] = dict(items={}, errors={}, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.save()

    def remaining(self) -> float:
        return self.deadline - time.time()

    def put(self, key: str, value) -> None:
        self.data[key] = value
        self.save()

    def save(self) -> None:
        self.data["elapsed_s"] = round(time.time() - self.start, 2)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1, default=_jsonable)
        os.replace(tmp, self.path)

    def enough(self, name: str, need_s: float) -> bool:
        """False (and item ``name`` recorded as skipped) if less than ``need_s`` seconds are left."""
        if self.remaining() >= need_s:
            return True
        self.data["items"][name] = dict(skipped=f"{self.remaining():.0f} s left, needs ~{need_s:.0f} s")
        self.save()
        return False

    @contextlib.contextmanager
    def item(self, name: str):
        """Run the block as item ``name``: its dict of results, time and error (caught) are recorded."""
        out: Dict[str, object] = {}
        t0 = time.time()
        print(f"[gpu-check] {name} ...", flush=True)
        try:
            yield out
        except Exception as exc:  # noqa: BLE001 - one item's failure must not stop the others
            out["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            self.data["errors"][name] = traceback.format_exc()[-4000:]
            print(f"[gpu-check] {name}: {out['error']}", flush=True)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        finally:
            out["seconds"] = round(time.time() - t0, 2)
            self.data["items"][name] = out
            self.save()


def _jsonable(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def flat(tensors) -> torch.Tensor:
    """Tensors (nested in lists / tuples / dicts) -> one float32 CPU vector."""
    if isinstance(tensors, torch.Tensor):
        return tensors.detach().float().cpu().reshape(-1)
    if isinstance(tensors, dict):
        tensors = [tensors[k] for k in sorted(tensors)]
    return torch.cat([flat(t) for t in tensors]) if tensors else torch.zeros(0)


def parity(ref, test) -> Dict[str, float]:
    """Differences of ``test`` against ``ref``: max abs, the reference's scale (max abs), max abs
    relative to that scale, and the relative L2 error ``||t - r|| / ||r||``."""
    r, t = flat(ref).double(), flat(test).double()
    if r.shape != t.shape:
        raise ValueError(f"parity: shapes differ ({tuple(r.shape)} vs {tuple(t.shape)})")
    d = (t - r).abs()
    scale = float(r.abs().max()) if r.numel() else 0.0
    nr = float(r.norm())
    return dict(
        max_abs=float(d.max()) if d.numel() else 0.0,
        ref_max_abs=scale,
        max_abs_rel=float(d.max()) / scale if scale else math.nan,
        rel_l2=float(d.norm()) / nr if nr else math.nan,
        finite=bool(torch.isfinite(t).all()),
    )


def grad_parity(ref_model: torch.nn.Module, test_model: torch.nn.Module) -> Dict[str, float]:
    """Relative L2 error of all parameter gradients together, and of the worst single tensor."""
    pairs = [
        (a.grad, b.grad)
        for a, b in zip(ref_model.parameters(), test_model.parameters())
        if a.grad is not None and b.grad is not None and float(a.grad.norm()) > 0
    ]
    if not pairs:
        return dict(rel_l2=math.nan, worst_tensor_rel_l2=math.nan, tensors=0)
    whole = parity([a for a, _ in pairs], [b for _, b in pairs])
    worst = max(parity(a, b)["rel_l2"] for a, b in pairs)
    return dict(rel_l2=whole["rel_l2"], worst_tensor_rel_l2=worst, tensors=len(pairs), finite=whole["finite"])


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def autocast(device: str, amp: Optional[str]):
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)


_TF32_DEFAULTS = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)


def exact_fp32(on: bool = True) -> None:
    """``on``: no TF32 in matmuls or cuDNN convolutions (parity needs true fp32); ``off``: back to
    PyTorch's defaults (TF32 off in matmuls, on in cuDNN convolutions), as users run."""
    matmul, cudnn = (False, False) if on else _TF32_DEFAULTS
    torch.backends.cuda.matmul.allow_tf32 = matmul
    torch.backends.cudnn.allow_tf32 = cudnn


def versions(names: Iterable[str]) -> Dict[str, Optional[str]]:
    from importlib import metadata

    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out
