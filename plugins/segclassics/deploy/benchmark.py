"""onnxruntime vs PyTorch CPU latency of exported models (``tools/analysis/onnx_benchmark.py``).

For each config: build the model (with a checkpoint if given), export its semantic forward
(normalised image -> logits, as ``tools/export_onnx.py`` does by default) to a temporary file,
then time one batch through PyTorch (``eval``, ``no_grad``) and through an onnxruntime CPU
session with the same number of threads. The two are *interleaved* (torch, onnxruntime, torch,
...) so that a change of machine load hits both; each repeat reports the median over its
iterations, and the table gives the range of those medians over the repeats. The max abs
difference of the outputs at the benchmark size is reported beside the times.

    python tools/analysis/onnx_benchmark.py CONFIG [CONFIG ...] --shape H W [--batch 1]
        [--threads 2] [--iters 5] [--warmup 1] [--repeats 3] [--markdown table.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Callable, List, Sequence

import numpy as np
import torch

from segclassics.utils.cli_args import add_cfg_options, add_debug

from .export import export_onnx
from .verify import random_images, session


def _ms(step: Callable[[], object]) -> float:
    from segclassics.engine.benchmark import timed

    return timed(step) * 1e3  # onnxruntime and the eager model run on the CPU here


def interleaved_medians(
    steps: Sequence[Callable[[], object]], iters: int, warmup: int, repeats: int
) -> List[List[float]]:
    """``result[j][r]``: median ms of ``steps[j]`` in repeat ``r``; the steps alternate."""
    for _ in range(warmup):
        for step in steps:
            step()
    out: List[List[float]] = [[] for _ in steps]
    for _ in range(repeats):
        times: List[List[float]] = [[] for _ in steps]
        for _ in range(iters):
            for j, step in enumerate(steps):
                times[j].append(_ms(step))
        for j, t in enumerate(times):
            out[j].append(statistics.median(t))
    return out


def _range(values: Sequence[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return format(lo, fmt) if format(lo, fmt) == format(hi, fmt) else f"{format(lo, fmt)}-{format(hi, fmt)}"


def benchmark_config(
    config: str,
    checkpoint,
    shape: Sequence[int],
    batch: int,
    threads: int,
    iters: int,
    warmup: int,
    repeats: int,
    cfg_options: Sequence[str] = (),
    trusted: bool = False,
) -> dict:
    from .cli import build, wrap

    loaded, model, family = build(config, checkpoint, cfg_options, trusted)
    wrapper, sf = wrap(loaded, model, False, False)
    h, w = family.sizes.check(shape, family.name)
    x = random_images((batch, len(sf.mean), h, w), normalized=True)
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        t0 = time.perf_counter()
        example_w = family.sizes.at_least(w + 1)  # non-square example: keeps H and W independent
        export_onnx(wrapper, path, random_images((2, x.shape[1], h, example_w), True), family.sizes)
        export_s = time.perf_counter() - t0
        sess = session(path, threads)
        feed = {sess.get_inputs()[0].name: x.numpy()}
        with torch.no_grad():
            ref = wrapper(x).numpy()
            diff = float(np.abs(sess.run(None, feed)[0] - ref).max())
            torch_ms, ort_ms = interleaved_medians(
                [lambda: wrapper(x), lambda: sess.run(None, feed)], iters, warmup, repeats
            )
    return dict(
        model=family.name,
        config=config,
        shape=[batch, x.shape[1], h, w],
        torch_ms=torch_ms,
        onnxruntime_ms=ort_ms,
        ratio=[t / o for t, o in zip(torch_ms, ort_ms)],
        max_abs_diff=diff,
        export_s=export_s,
        threads=threads,
    )


def markdown_table(rows: Sequence[dict]) -> str:
    lines = [
        "| model | config | input (N, C, H, W) | PyTorch ms | onnxruntime ms | PyTorch / onnxruntime | max abs diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | `{os.path.basename(r['config'])}` | {tuple(r['shape'])} | "
            f"{_range(r['torch_ms'], '.0f')} | {_range(r['onnxruntime_ms'], '.0f')} | "
            f"{_range(r['ratio'], '.2f')} | {r['max_abs_diff']:.1e} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="onnxruntime vs PyTorch CPU latency of exported semantic segmentation configs (interleaved timing)."
    )
    p.add_argument("configs", nargs="+", metavar="CONFIG")
    p.add_argument("--checkpoint", help="weights for a single config (default: initial weights)")
    p.add_argument("--shape", type=int, nargs=2, default=(256, 256), metavar=("H", "W"), help="input size")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads")
    p.add_argument("--iters", type=int, default=5, help="timed iterations of each per repeat")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    add_cfg_options(p, note="applied to every config")
    p.add_argument("--markdown", help="also write the table to this file")
    add_debug(p)
    args = p.parse_args(argv)
    if args.checkpoint and len(args.configs) > 1:
        p.error("--checkpoint goes with a single config")
    from segclassics.engine.benchmark import machine_info
    from segclassics.utils.reporting import run_reporting_user_errors

    rows = []
    load_before = os.getloadavg()
    for config in args.configs:

        def run(config=config):
            rows.append(
                benchmark_config(
                    config,
                    args.checkpoint,
                    args.shape,
                    args.batch,
                    args.threads,
                    args.iters,
                    args.warmup,
                    args.repeats,
                    args.cfg_options,
                )
            )
            return 0

        if run_reporting_user_errors(run, args.debug, config):
            return 2
        print(markdown_table(rows[-1:]).splitlines()[-1], flush=True)
    info = machine_info("cpu")
    load = os.getloadavg()
    footer = (
        f"\n{info['cpu_model']}, {info['cpu_logical_cores']} cores, {args.threads} threads each; 1-min load "
        f"average {load_before[0]:.1f} before, {load[0]:.1f} after; torch "
        f"{torch.__version__.split('+')[0]}; ranges over {args.repeats} repeats of the median of "
        f"{args.iters} interleaved iterations"
    )
    table = markdown_table(rows) + footer
    print(table)
    if args.markdown:
        from segclassics.utils.writer import write_text

        write_text(args.markdown, table + "\n", what="--markdown")
    return 0
