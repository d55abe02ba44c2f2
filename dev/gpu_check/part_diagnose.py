"""GPU check, part 5 (opt-in, ``--parts diagnose``): where the time of a SETR training step goes,
the large-batch SETR step, and why SegNet's fp32 gradients differ from the CPU's.

Three items, each answering a question the first GPU run left open:

1. **SETR training-step profile** (ViT-L/16 PUP at 512x512, bf16 autocast, batch 8, ours and
   mmseg's): forward and backward times (CUDA events) and ``torch.profiler``'s device time per
   kernel over two steps, summed by kind (matrix products, attention, bilinear upsampling,
   softmax / cross-entropy, normalisation, the rest) with the 12 costliest kernels. The first run
   measured inference 2.7x faster than mmseg's but training only 1.2x: the profile says which
   kernels the training step spends the difference on.
2. **SETR at batch 64** (ours, bf16 + activation checkpointing): the logits' bilinear upsampling
   is split into batch chunks past 2**31 output elements (``setr_heads.upsample_bilinear``); the
   first run stopped here on CUDA's 32-bit kernel limit.
3. **SegNet fp32 pool indices, CPU vs GPU**: the fraction of 2x2 max-pooling windows whose
   argmax differs between the devices, and the fraction of windows whose two largest values are
   within fp32 rounding (a near-tie) -- where a tie flips, max-unpooling routes the gradient to
   another pixel, so gradient parity is lost while the output stays close.
"""

from __future__ import annotations

import re
import time

import torch  # noqa: E402
from common import ROOT, Recorder, exact_fp32, part_args, sync

from segclassics.engine import benchmark  # noqa: E402
from segclassics.engine.benchmark_inputs import make_mmseg_inputs  # noqa: E402

# kernel name -> kind, first match wins
KINDS = [
    ("attention", r"flash|fmha|attention|sdpa|efficient"),
    ("bilinear upsampling", r"upsample|interp"),
    ("softmax / cross-entropy", r"softmax|nll|cross_entropy|log_softmax"),
    ("normalisation", r"batch_norm|batchnorm|bn_|layer_norm|layernorm|welford"),
    ("matmul / conv", r"gemm|cutlass|sm90|sm80|nvjet|xmma|cudnn|conv|wgrad|dgrad|implicit"),
]


def kind_of(name: str) -> str:
    low = name.lower()
    for kind, pattern in KINDS:
        if re.search(pattern, low):
            return kind
    return "elementwise / other"


def _setr(which: str, size: int, layers: int, outs, batch: int, device: str, cp: bool = False):
    from part_setr import PAIR, overrides

    built = benchmark.build_benchmark_model(
        PAIR[which], overrides(which, size, layers, outs) + [f"model.backbone.with_cp={cp}"], device
    )
    return built, make_mmseg_inputs(built, batch, (size, size), device)


def _step(model, data, device, amp: bool):
    with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=amp):
        total, _ = model.parse_losses(model(**data["train"], mode="loss"))
    total.backward()
    model.zero_grad(set_to_none=True)


def profile_setr(which: str, size: int, layers: int, outs, batch: int, device: str, out: dict) -> None:
    built, data = _setr(which, size, layers, outs, batch, device)
    model = built.model.train()
    for _ in range(2):
        _step(model, data, device, True)
    sync(device)
    if device.startswith("cuda"):  # forward / backward split, CUDA events
        fwd, bwd = [], []
        for _ in range(3):
            e = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
            e[0].record()
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                total, _ = model.parse_losses(model(**data["train"], mode="loss"))
            e[1].record()
            total.backward()
            e[2].record()
            torch.cuda.synchronize()
            model.zero_grad(set_to_none=True)
            fwd.append(e[0].elapsed_time(e[1]))
            bwd.append(e[1].elapsed_time(e[2]))
        out.update(forward_ms=min(fwd), backward_ms=min(bwd))
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    t0 = time.perf_counter()
    with profile(activities=acts) as prof:
        for _ in range(2):
            _step(model, data, device, True)
        sync(device)
    out["profiled_steps_wall_s"] = time.perf_counter() - t0
    attr = "self_device_time_total" if device.startswith("cuda") else "self_cpu_time_total"
    events = prof.key_averages()
    if device.startswith("cuda"):  # the kernels themselves: an aten op's device time repeats its kernels'
        events = [e for e in events if str(e.device_type).endswith("CUDA")]
    rows = [(e.key, getattr(e, attr, 0) / 1e3, e.count) for e in events]
    total_ms = sum(r[1] for r in rows) or 1.0
    by_kind = {}
    for name, ms, _ in rows:
        by_kind[kind_of(name)] = by_kind.get(kind_of(name), 0.0) + ms
    out["per_step_ms_by_kind"] = {k: round(v / 2, 2) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])}
    out["share_by_kind"] = {k: round(v / total_ms, 3) for k, v in by_kind.items()}
    out["top_kernels"] = [
        dict(name=n[:120], ms_per_step=round(ms / 2, 2), calls_per_step=c // 2)
        for n, ms, c in sorted(rows, key=lambda r: -r[1])[:12]
    ]
    del model, built, data


def large_batch_setr(size: int, layers: int, outs, batch: int, device: str, out: dict) -> None:
    r = benchmark.benchmark_config(
        f"{ROOT}/configs/setr/benchmark/setr_pup_vit-b_256_ours.py",
        (size, size),
        batch,
        device,
        "bf16",
        2,
        1,
        True,
        __import__("part_setr").overrides("ours", size, layers, outs) + ["model.backbone.with_cp=True"],
        log=lambda s: print(s, flush=True),
    )
    out.update(
        {
            k: r[k]
            for k in ("batch", "train_images_per_s", "train_peak_mem_mb", "infer_images_per_s", "infer_peak_mem_mb")
            if k in r
        }
    )


def segnet_indices(shape, device: str, out: dict) -> None:
    """Pool indices of every SegNet encoder stage on CPU and on ``device`` (fp32, TF32 off)."""
    from segclassics.models import segnet

    torch.manual_seed(0)
    built = benchmark.build_benchmark_model(
        f"{ROOT}/configs/segnet/segnet_vgg16_camvid.py",
        [f"model.data_preprocessor.size=({shape[0]},{shape[1]})"],
        "cpu",
    )
    model = built.model.eval()
    x = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(0))
    records = {}
    real = segnet.max_pool_with_record

    def spy(tag):
        def pool(t, ceil_mode=True):
            y, rec = real(t, ceil_mode)
            records.setdefault(tag, []).append((t.detach().float().cpu(), rec.indices.cpu()))
            return y, rec

        return pool

    exact_fp32(True)
    try:
        for tag, dev in (("cpu", "cpu"), ("device", device)):
            segnet.max_pool_with_record = spy(tag)
            m = model.to(dev)
            with torch.no_grad():
                m(x.to(dev), None, mode="tensor")
    finally:
        segnet.max_pool_with_record = real
        exact_fp32(False)
    stages = []
    for (xin, i_cpu), (_, i_dev) in zip(records["cpu"], records["device"]):
        flip = i_cpu != i_dev
        # windows whose maximum is 0 (all-zero after ReLU) tie exactly, but a flip there moves a 0 and
        # routes a gradient to a pixel that ReLU zeroes: harmless. The others ("live") matter.
        t = xin[..., : xin.shape[-2] // 2 * 2, : xin.shape[-1] // 2 * 2]
        win = t.unfold(-2, 2, 2).unfold(-2, 2, 2).reshape(*t.shape[:2], t.shape[-2] // 2, t.shape[-1] // 2, 4)
        top2 = win.topk(2, dim=-1).values
        live = top2[..., 0] > 0
        gap = (top2[..., 0] - top2[..., 1]) / t.abs().amax().clamp_min(1e-30)
        f = flip[..., : live.shape[-2], : live.shape[-1]]
        n_live = max(int(live.sum()), 1)
        stages.append(
            dict(
                windows=int(i_cpu.numel()),
                live_windows=int(live.sum()),
                index_flips_live=int((f & live).sum()),
                index_flips_all_zero=int((f & ~live).sum()),
                near_ties_live_1e5=float(((gap < 1e-5) & live).sum()) / n_live,
                near_ties_live_1e6=float(((gap < 1e-6) & live).sum()) / n_live,
            )
        )
    out["stages"] = stages


def main() -> None:
    a = part_args(__doc__.split("\n")[0])
    rec = Recorder(a.json, a.deadline)
    size, layers, outs = (512, 24, (9, 14, 19, 23)) if not a.smoke else (64, 4, (0, 1, 2, 3))
    batch, big = (8, 64) if not a.smoke else (1, 2)
    if a.device.startswith("cuda"):
        rec.put("device_name", torch.cuda.get_device_name(a.device))
    for which in ("ours", "mmseg"):
        if rec.enough(f"{which}: profile", 20):
            with rec.item(f"{which}: bf16 training step profile, batch {batch}") as out:
                profile_setr(which, size, layers, outs, batch, a.device, out)
    if rec.enough("ours: large batch", 30):
        with rec.item(f"ours: bf16+checkpointing, batch {big}") as out:
            large_batch_setr(size, layers, outs, big, a.device, out)
    if rec.enough("segnet indices", 10):
        with rec.item("SegNet fp32 pool indices, CPU vs device") as out:
            segnet_indices((96, 128) if not a.smoke else (32, 48), a.device, out)


if __name__ == "__main__":
    main()
