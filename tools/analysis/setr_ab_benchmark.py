#!/usr/bin/env python
"""Interleaved A/B timing of two mmseg configs (made for SETR ours vs mmseg's SETR).

``tools/benchmark.py`` measures config 1 completely, then config 2: on a shared, loaded machine
the load can change between the two and dominate the ratio. This script builds both models in
one process and alternates their steps (A, B, A, B, ...), reporting the minimum and median step
time of each and the per-step peak memory increase (``segclassics.engine.benchmark.PhasePeakMemory``, as
``tools/benchmark.py`` measures it), for training (forward + losses + backward
+ SGD step) and inference (``encode_decode`` under ``no_grad``), fp32 and bf16 autocast.

    python tools/analysis/setr_ab_benchmark.py configs/setr/benchmark/setr_pup_vit-b_256_{mmseg,ours}.py \
        --shape 256 256 --batch 1 --rounds 3 [--with-cp] [--amp bf16] [--json out.json]
"""

import argparse
import json
import os
import runpy
import statistics

# segclassics importable from a source checkout (tools/_bootstrap.py)
runpy.run_path(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bootstrap.py"))

import torch  # noqa: E402


def build(config, cfg_options, device):
    from segclassics.engine.config_loader import build_model, load_config

    model = build_model(load_config(config, cfg_options), device)
    model.init_weights()
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config_a")
    p.add_argument("config_b")
    p.add_argument("--shape", type=int, nargs=2, default=(256, 256))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3, help="timed A/B rounds per phase (after one warm-up round)")
    p.add_argument("--amp", choices=["bf16"], default=None)
    p.add_argument("--with-cp", action="store_true", help="model.backbone.with_cp=True for both")
    p.add_argument("--no-infer", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json")
    a = p.parse_args(argv)
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    torch.manual_seed(0)
    opts = [f"model.backbone.with_cp={a.with_cp}"]
    models = [build(c, opts, a.device) for c in (a.config_a, a.config_b)]
    h, w = a.shape
    x = torch.randn(a.batch, 3, h, w, device=a.device)
    samples = []
    for _ in range(a.batch):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, h, w), device=a.device))
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        samples.append(s)
    metas = [s.metainfo for s in samples]
    opts_ = [torch.optim.SGD(m.parameters(), lr=1e-5, momentum=0.9) for m in models]
    from segclassics.engine.benchmark import PhasePeakMemory, timed
    from segclassics.utils.amp import amp_autocast

    amp = lambda: amp_autocast(a.device.split(":")[0], torch.bfloat16, enabled=a.amp == "bf16")  # noqa: E731

    def train_step(i):
        m, o = models[i], opts_[i]
        m.train()
        with amp():
            losses = m.loss(x, samples)
        sum(v for k, v in losses.items() if "loss" in k).backward()
        o.step()
        o.zero_grad(set_to_none=True)

    def infer_step(i):
        m = models[i]
        m.eval()
        with torch.no_grad(), amp():
            m.encode_decode(x, metas)

    results = {}
    phases = [("train", train_step)] + ([] if a.no_infer else [("infer", infer_step)])
    for phase, fn in phases:
        times, mems = {0: [], 1: []}, {0: [], 1: []}
        for r in range(a.rounds + 1):
            for i in (0, 1) if r % 2 == 0 else (1, 0):
                with PhasePeakMemory(a.device) as memory:
                    dt = timed(lambda: fn(i), a.device)  # noqa: B023  called at once, in this iteration
                mem = memory.mib
                if r > 0:  # round 0 warms up (and allocates the optimizer state)
                    times[i].append(dt)
                    mems[i].append(mem)
        for i, name in ((0, "A"), (1, "B")):
            results[f"{phase}_{name}"] = dict(
                min_s=min(times[i]), median_s=statistics.median(times[i]), peak_mem_mb=max(mems[i]), times=times[i]
            )
        ra, rb = results[f"{phase}_A"], results[f"{phase}_B"]
        print(
            f"{phase}: A min {ra['min_s']:.3f}s med {ra['median_s']:.3f}s mem {ra['peak_mem_mb']:.0f}MB | "
            f"B min {rb['min_s']:.3f}s med {rb['median_s']:.3f}s mem {rb['peak_mem_mb']:.0f}MB | "
            f"speed-up A/B (min) {ra['min_s'] / rb['min_s']:.2f}x, "
            f"memory B/A {rb['peak_mem_mb'] / ra['peak_mem_mb']:.2f}",
            flush=True,
        )
    report = dict(
        config_a=a.config_a,
        config_b=a.config_b,
        shape=list(a.shape),
        batch=a.batch,
        amp=a.amp,
        with_cp=a.with_cp,
        device=a.device,
        threads=torch.get_num_threads(),
        rounds=a.rounds,
        results=results,
    )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
