"""GPU check, part 2: SETR-PUP ViT-L at 512x512, ours vs mmseg's SETR, in one process.

The models are the benchmark pair ``configs/setr/benchmark/setr_pup_vit-b_256_{ours,mmseg}.py``
(same layers and parameter count: mmseg's ``VisionTransformer`` + ``SETRUPHead`` against our
``SETRViT`` + ``SETRPUPHead``, 4 auxiliary heads, BN, 150 classes) scaled to the paper's encoder
by config overrides: ViT-L/16 (24 layers, 1024 dims, 16 heads), 512x512 input, outputs of layers
10/15/20/24. Each (model, setting) is measured by ``segclassics.engine.benchmark.benchmark_config``
(inference and training images/s, peak ``torch.cuda.max_memory_allocated``, FLOPs of one inference
forward): batch 8 in fp32, bf16 autocast, and bf16 autocast with activation checkpointing
(``model.backbone.with_cp=True``), then, while time is left, the largest batch that fits.

MFU = images/s x model FLOPs per image / peak. Training FLOPs per image are counted with
``torch.utils.flop_counter.FlopCounterMode`` over one training step (losses forward + backward) at
batch 1 without checkpointing, so recomputation is not counted as useful work. The peak is the
H200's dense bf16 datasheet figure (:data:`common.H200_BF16_DENSE_PEAK_TFLOPS`); the part also
measures a large bf16 matrix product on the device as the attainable ceiling.
"""

from __future__ import annotations

import torch  # noqa: E402
from common import H200_BF16_DENSE_PEAK_TFLOPS, ROOT, Recorder, part_args, sync

from segclassics.engine import benchmark  # noqa: E402
from segclassics.engine.benchmark_inputs import make_mmseg_inputs  # noqa: E402

PAIR = {
    "ours": f"{ROOT}/configs/setr/benchmark/setr_pup_vit-b_256_ours.py",
    "mmseg": f"{ROOT}/configs/setr/benchmark/setr_pup_vit-b_256_mmseg.py",
}


def overrides(which: str, size: int, layers: int, out_indices) -> list:
    """Config overrides that turn the ViT-B/256 pair into ViT-L (``layers`` deep) at ``size``."""
    outs = "(" + ",".join(str(i) for i in out_indices) + ")"
    common = [
        f"model.data_preprocessor.size=({size},{size})",
        f"model.backbone.img_size=({size},{size})",
        f"model.backbone.out_indices={outs}",
        "model.decode_head.in_channels=1024",
    ]
    common += [f"model.auxiliary_head.{i}.in_channels=1024" for i in range(4)]
    if which == "ours":
        return common + [
            "model.backbone.arch=vit_large_patch16",
            f"model.backbone.depth={layers}",
            "model.backbone.pretrained=None",
        ]
    return common + [
        "model.backbone.embed_dims=1024",
        f"model.backbone.num_layers={layers}",
        "model.backbone.num_heads=16",
    ]


def train_flops_per_image(config: str, opts: list, size: int, device: str) -> int:
    """FLOPs of one training step (losses forward + backward) at batch 1."""
    from torch.utils.flop_counter import FlopCounterMode

    built = benchmark.build_benchmark_model(config, opts, device)
    data = make_mmseg_inputs(built, 1, (size, size), device)
    built.model.train()
    with FlopCounterMode(display=False) as counter:
        total, _ = built.model.parse_losses(built.model(**data["train"], mode="loss"))
        total.backward()
    del built, data
    return int(counter.get_total_flops())


def matmul_tflops(device: str, n: int, reps: int) -> float:
    """bf16 n x n x n matrix products per second, in TFLOP/s (2 n^3 FLOPs each)."""
    import time

    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def _measure(name, cfg, opts, size, batch, device, amp, iters, warmup, flops, out):
    r = benchmark.benchmark_config(
        cfg, (size, size), batch, device, amp, iters, warmup, True, opts, log=lambda s: print(s, flush=True)
    )
    keep = (
        "params",
        "gflops",
        "infer_images_per_s",
        "infer_peak_mem_mb",
        "train_images_per_s",
        "train_peak_mem_mb",
        "batch",
    )
    res = {k: r[k] for k in keep if k in r}
    peak = H200_BF16_DENSE_PEAK_TFLOPS * 1e12
    res["infer_mfu"] = r["infer_images_per_s"] * r["gflops"] * 1e9 / peak
    if flops.get(name):
        res["train_flops_per_image"] = flops[name]
        res["train_mfu"] = r["train_images_per_s"] * flops[name] / peak
    out.update(res)


def main() -> None:
    a = part_args(__doc__.split("\n")[0])
    rec = Recorder(a.json, a.deadline)
    size, layers, outs = (512, 24, (9, 14, 19, 23)) if not a.smoke else (64, 4, (0, 1, 2, 3))
    batch, iters, warmup = (8, 5, 2) if not a.smoke else (1, 1, 0)
    rec.put(
        "settings",
        dict(
            size=size,
            layers=layers,
            out_indices=outs,
            batch=batch,
            iters=iters,
            warmup=warmup,
            peak_tflops_bf16_dense=H200_BF16_DENSE_PEAK_TFLOPS,
            device=a.device,
        ),
    )
    if a.device.startswith("cuda"):
        rec.put("device_name", torch.cuda.get_device_name(a.device))
    with rec.item("bf16 matmul ceiling") as out:
        n, reps = (8192, 20) if not a.smoke else (256, 2)
        out.update(n=n, tflops=matmul_tflops(a.device, n, reps))
    flops = {}
    for name, cfg in PAIR.items():
        with rec.item(f"{name}: train FLOPs per image") as out:
            flops[name] = train_flops_per_image(cfg, overrides(name, size, layers, outs), size, a.device)
            out["train_flops_per_image"] = flops[name]
    settings = [("fp32", None, False), ("bf16", "bf16", False), ("bf16+checkpointing", "bf16", True)]

    def need() -> float:  # an item needs about as long as the longest so far
        return max([15.0] + [1.3 * it.get("seconds", 0) for it in rec.data["items"].values()])

    for label, amp, cp in settings:
        for name, cfg in PAIR.items():
            key = f"{name}: {label}, batch {batch}"
            if not rec.enough(key, need()):
                continue
            with rec.item(key) as out:
                opts = overrides(name, size, layers, outs) + [f"model.backbone.with_cp={cp}"]
                _measure(name, cfg, opts, size, batch, a.device, amp, iters, warmup, flops, out)
    # largest batch that fits: doubling from 2x the fixed batch until out of memory or time
    for label, cp in (("bf16", False), ("bf16+checkpointing", True)):
        for name, cfg in PAIR.items():
            b, fits = batch * 2, None
            while b <= (256 if not a.smoke else 2):
                key = f"{name}: {label}, batch {b}"
                if not rec.enough(key, max(30.0, 2 * need())):  # twice the batch: about twice the time
                    break
                with rec.item(key) as out:
                    opts = overrides(name, size, layers, outs) + [f"model.backbone.with_cp={cp}"]
                    _measure(name, cfg, opts, size, b, a.device, "bf16", 2, 1, flops, out)
                if "error" in rec.data["items"][key]:
                    break
                fits, b = b, b * 2
            rec.data.setdefault("largest_batch", {})[f"{name}: {label}"] = fits
            rec.save()
    rec.put("goal", goal(rec.data["items"], batch))


def goal(items: dict, batch: int) -> dict:
    """SETR's design target, per setting at the fixed batch: ours >= 1.5x mmseg's training images/s
    and <= 0.6x its training peak memory."""
    out = {}
    for label in ("fp32", "bf16", "bf16+checkpointing"):
        o, m = items.get(f"ours: {label}, batch {batch}", {}), items.get(f"mmseg: {label}, batch {batch}", {})
        if "train_images_per_s" in o and "train_images_per_s" in m:
            speed = o["train_images_per_s"] / m["train_images_per_s"]
            mem = o["train_peak_mem_mb"] / m["train_peak_mem_mb"]
            out[label] = dict(
                train_speedup=speed,
                train_memory_ratio=mem,
                met=bool(speed >= 1.5 and mem <= 0.6),
                infer_speedup=o["infer_images_per_s"] / m["infer_images_per_s"],
                infer_memory_ratio=o["infer_peak_mem_mb"] / m["infer_peak_mem_mb"],
            )
    return out


if __name__ == "__main__":
    main()
