"""The machine's attainable convolution and matrix-product throughput (``tools/benchmark.py --peak``).

A model's achieved GFLOP/s means little without the machine's own ceiling. This measures, with
the torch threads the process has:

* a 3x3 convolution 64 -> 64 channels on a 256x256 map, batch 1 (4.83 GFLOP per forward),
  forward alone and forward + backward (input and weight gradients, 3x the forward FLOPs), in
  fp32 NCHW, fp32 channels-last and, where the CPU runs bf16 natively
  (:func:`segclassics.engine.cpu_precision.cpu_bf16_supported`), bf16 channels-last;
* an fp32 2048x2048x2048 matrix product (and bf16 where native).

Each figure is the best of ``repeats`` timed runs after one warm-up (the best, not the mean: on a
shared machine the fastest run is the closest to what the hardware can do). 1 multiply-add = 2 FLOPs.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional

import torch

from .cpu_precision import cpu_bf16_supported

CONV = dict(channels=64, size=256, kernel=3)


def _best_seconds(fn: Callable[[], None], repeats: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def conv_flops(channels: int = CONV["channels"], size: int = CONV["size"], kernel: int = CONV["kernel"]) -> int:
    """FLOPs of one forward of the measured convolution (same padding, batch 1)."""
    return 2 * channels * channels * kernel * kernel * size * size


def measure_peak(device: str = "cpu", repeats: int = 5, log: Optional[Callable[[str], None]] = None) -> Dict:
    """``dict(rows=[...], threads, bf16_native)``; each row: what, dtype, layout, GFLOP/s."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    bf16 = dev.type == "cuda" or cpu_bf16_supported()
    settings = [("fp32", torch.float32, torch.contiguous_format), ("fp32", torch.float32, torch.channels_last)]
    if bf16:
        settings.append(("bf16", torch.bfloat16, torch.channels_last))
    c, s, k = CONV["channels"], CONV["size"], CONV["kernel"]
    flops = conv_flops()
    rows: List[Dict] = []
    for name, dtype, layout in settings:
        conv = torch.nn.Conv2d(c, c, k, padding=k // 2, bias=False).to(dev, dtype).to(memory_format=layout)
        x = torch.randn(1, c, s, s, device=dev, dtype=dtype).contiguous(memory_format=layout).requires_grad_()

        def forward(conv=conv, x=x):
            with torch.no_grad():
                conv(x)

        def train_step(conv=conv, x=x):
            conv(x).sum().backward()

        lay = "channels-last" if layout is torch.channels_last else "NCHW"
        for what, fn, work in (
            ("conv 3x3 forward", forward, flops),
            ("conv 3x3 forward+backward", train_step, 3 * flops),
        ):
            gflops = work / _best_seconds(fn, repeats, sync) / 1e9
            rows.append(dict(what=what, dtype=name, layout=lay, gflops_per_s=gflops))
            if log:
                log(f"[peak] {what}, {name} {lay}: {gflops:.1f} GFLOP/s")
    n = 2048
    for name, dtype in [("fp32", torch.float32)] + ([("bf16", torch.bfloat16)] if bf16 else []):
        a = torch.randn(n, n, device=dev, dtype=dtype)
        b = torch.randn(n, n, device=dev, dtype=dtype)
        gflops = 2 * n**3 / _best_seconds(lambda a=a, b=b: a @ b, repeats, sync) / 1e9
        rows.append(dict(what=f"matmul {n}^3", dtype=name, layout="-", gflops_per_s=gflops))
        if log:
            log(f"[peak] matmul {n}^3, {name}: {gflops:.1f} GFLOP/s")
    return dict(
        rows=rows,
        threads=torch.get_num_threads(),
        bf16_native=bf16,
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        note="best of %d runs after a warm-up; 1 multiply-add = 2 FLOPs" % repeats,
    )


def format_peak(report: Dict) -> str:
    lines = ["| measurement | dtype | layout | GFLOP/s |", "|---|---|---|---|"]
    lines += [f"| {r['what']} | {r['dtype']} | {r['layout']} | {r['gflops_per_s']:.1f} |" for r in report["rows"]]
    if not report["bf16_native"]:
        lines.append(
            f"bf16: not measured, this CPU has no native bf16 (torch CPU capability {report['cpu_capability']})"
        )
    return "\n".join(lines)
