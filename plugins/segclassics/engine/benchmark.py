"""Logic behind ``tools/benchmark.py``: parameters, FLOPs, throughput and peak memory of models.

A config is loaded and built by :mod:`segclassics.engine.config_loader`, exactly as its framework
builds it; the synthetic batch each framework takes is made by :mod:`.benchmark_inputs` (asked of the
config's backend, :mod:`.backends`). Then:

* **params**: ``sum(p.numel() for p in model.parameters())`` (and the trainable part).
* **FLOPs and MACs**: :class:`torch.utils.flop_counter.FlopCounterMode` over one inference
  forward of a batch of 1 at the given shape. It counts matrix multiplications, convolutions and
  attention; element-wise ops, normalisation, pooling and interpolation are not counted.
  ``gflops`` counts a multiply-add as **2** FLOPs; ``gmacs`` (= ``gflops / 2``) counts it as one,
  the convention of mmseg's ``tools/analysis_tools/get_flops.py`` and fvcore (which print it
  under the name "Flops"). Both per image.
* **inference throughput**: images/s of the framework's inference forward (mmseg/mmdet
  ``mode='predict'``, detectron2 eval-mode ``model(list_of_dicts)``), ``model.eval()`` under
  ``torch.no_grad()``, ``warmup`` untimed iterations then ``iters`` timed ones.
* **training throughput**: images/s of forward (losses) + backward + ``torch.optim.SGD`` step
  (lr 1e-5, momentum 0.9) with a synthetic batch carrying labels / instances.
* **peak memory** (:class:`PhasePeakMemory`, also used by ``tools/analysis/setr_ab_benchmark.py``):
  the *increase* a phase (warmup + timed iterations) needs on top of what was in use at its start
  (the built model and its inputs), measured after ``gc.collect()`` and glibc ``malloc_trim(0)`` so
  memory freed by an earlier phase is returned first. CUDA: ``torch.cuda.max_memory_allocated``
  minus ``memory_allocated`` at the start. CPU: the process' peak resident set size minus its RSS
  at the start; on Linux the kernel's own peak (``VmHWM``, reset at the start through
  ``/proc/self/clear_refs``), elsewhere the RSS sampled every 2 ms by a thread (psutil).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform
import threading
import time
from typing import Any, Callable, List, Optional, Sequence

import torch

from ..errors import UserError
from .benchmark_inputs import BuiltModel, batch_for, forward_fns
from .config_loader import build_model, load_config

FLOPS_NOTE = (
    "torch.utils.flop_counter.FlopCounterMode on one inference forward of batch 1; "
    "multiply-add = 2 FLOPs (gflops), = 1 MAC (gmacs, the convention of mmseg get_flops.py and fvcore); "
    "matmul/conv/attention only (element-wise, norm, pooling, interpolation not counted)"
)
CPU_MEMORY_NOTE = (
    "CPU: peak RSS increase over the RSS at the start of the phase (warmup + timed iterations, after "
    "gc.collect() + malloc_trim(0)); Linux VmHWM reset via /proc/self/clear_refs, elsewhere psutil "
    "sampled every 2 ms"
)
CUDA_MEMORY_NOTE = (
    "CUDA: torch.cuda.max_memory_allocated minus memory_allocated at the start of the phase (warmup + timed iterations)"
)


# ----------------------------------------------------------------------------- building


def build_benchmark_model(config: str, cfg_options: Sequence[str] = (), device: str = "cpu") -> BuiltModel:
    """Build the model of ``config`` the way its framework does (``config_loader``), with the task
    and class count its backend reads from it."""
    loaded = load_config(config, cfg_options)
    model = build_model(loaded, device)
    return loaded.backend.benchmark_model(loaded, model, config)


# ----------------------------------------------------------------------------- measuring


def sync(device: str) -> None:
    """Wait for the device's queued work (CUDA), so a clock read after it covers that work."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def release_memory() -> None:
    """``gc.collect()`` and glibc's ``malloc_trim(0)``: memory freed so far goes back to the
    system before a measurement, so a peak measured after it is this phase's own."""
    gc.collect()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def timed(step: Callable[[], Any], device: str = "cpu") -> float:
    """Seconds one call of ``step`` takes, its device work included (:func:`sync`)."""
    t0 = time.perf_counter()
    step()
    sync(device)
    return time.perf_counter() - t0


class PhasePeakMemory:
    """``with PhasePeakMemory(device) as mem: ...``; then ``mem.mib``: the peak memory of the block
    in MiB above what was in use when it began (see the module docstring)."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.mib = 0.0
        self._base = 0
        self._sampler: Optional[_RssSampler] = None

    def __enter__(self) -> "PhasePeakMemory":
        release_memory()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        elif _reset_peak_rss():
            self._base = _proc_status_bytes("VmRSS")
        else:
            self._sampler = _RssSampler().__enter__()
            self._base = self._sampler.start
        return self

    def __exit__(self, *exc) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self._sampler is None:
            peak = _proc_status_bytes("VmHWM")
        else:
            self._sampler.__exit__(*exc)
            peak = self._sampler.peak
        self.mib = (peak - self._base) / 2**20


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _proc_status_bytes("VmHWM")
    except (OSError, ValueError):
        return False
    return True


def _proc_status_bytes(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise ValueError(f"/proc/self/status has no {field}")


class _RssSampler:
    """Samples this process' RSS in a thread; ``start`` and ``peak`` in bytes."""

    def __init__(self, interval: float = 0.002):
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _timed_phase(step: Callable[[], Any], warmup: int, iters: int, device: str) -> tuple[float, float]:
    """Run ``step`` warmup + iters times; returns (seconds for the timed iters, peak memory MiB)."""
    with PhasePeakMemory(device) as memory:
        for _ in range(warmup):
            step()
        sync(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        sync(device)
        seconds = time.perf_counter() - t0
    return seconds, memory.mib


def _autocast(device: str, amp: Optional[str]):
    from segclassics.utils.amp import amp_autocast

    dtype = dict(bf16=torch.bfloat16, fp16=torch.float16)[amp] if amp else None
    return amp_autocast("cuda" if device.startswith("cuda") else "cpu", dtype, enabled=bool(amp))


def count_flops(infer: Callable[[], Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        infer()
    return int(counter.get_total_flops())


def count_train_flops(autocast: Callable[[], Any], loss_fn: Callable[[], torch.Tensor], model) -> int:
    """FLOPs of one training step of the batch: losses forward + backward (matmul/conv/attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        with autocast():
            total = loss_fn()
        total.backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def benchmark_config(
    config: str,
    shape: Sequence[int],
    batch: int,
    device: str = "cpu",
    amp: Optional[str] = None,
    iters: int = 10,
    warmup: int = 2,
    train: bool = True,
    cfg_options: Sequence[str] = (),
    log: Callable[[str], None] = print,
    channels_last: bool = False,
) -> dict:
    """Measure one config; returns a flat dict of results (see module docstring). ``channels_last``:
    the model's 4-d weights stored channels-last (convolutions then run and output NHWC)."""
    torch.manual_seed(0)
    built = build_benchmark_model(config, cfg_options, device)
    model = built.model
    if channels_last:
        from .cpu_precision import to_channels_last

        to_channels_last(model)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"[benchmark] {config}: {built.framework} {type(model).__name__}, {params / 1e6:.3f} M params")

    # FLOPs: one image
    model.eval()
    one = batch_for(built, 1, shape, device)
    infer1, _ = forward_fns(built, one)
    with _autocast(device, amp):
        flops = count_flops(infer1)
    del one, infer1

    data = batch_for(built, batch, shape, device)
    infer, loss_fn = forward_fns(built, data)
    result = dict(
        config=config,
        framework=built.framework,
        task=built.task,
        model_class=type(model).__name__,
        num_classes=built.num_classes,
        params=params,
        trainable_params=trainable,
        gflops=flops / 1e9,
        gmacs=flops / 2e9,
        input_shape=list(shape),
        model_input_shape=built.extra.get("model_input_shape", list(shape)),
        train_model_input_shape=built.extra.get("train_model_input_shape", list(shape)),
        batch=batch,
        memory_format="channels_last" if channels_last else "NCHW",
    )
    for key in ("model_input_shape", "train_model_input_shape"):
        if result[key] != list(shape):
            log(
                f"[benchmark]   note: the data preprocessor pads {list(shape)} to {result[key]} ({key}; "
                f"its size / size_divisor setting)"
            )

    def infer_step():
        with torch.no_grad(), _autocast(device, amp):
            infer()  # noqa: F821  bound above; the `del` at the end frees it after the last call

    model.eval()
    seconds, peak = _timed_phase(infer_step, warmup, iters, device)
    result.update(
        infer_images_per_s=batch * iters / seconds,
        infer_ms_per_batch=1000 * seconds / iters,
        infer_peak_mem_mb=peak,
        infer_gflops_per_s=result["gflops"] * batch * iters / seconds,
    )
    log(f"[benchmark]   inference: {result['infer_images_per_s']:.2f} img/s, peak mem {peak:.1f} MiB")

    if train:
        model.train()
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-5, momentum=0.9)
        scaler = torch.amp.GradScaler("cuda") if (amp == "fp16" and device.startswith("cuda")) else None

        def train_step():
            opt.zero_grad(set_to_none=True)
            with _autocast(device, amp):
                total = loss_fn()  # noqa: F821  bound above; the `del` at the end frees it after the last call
            if scaler is not None:
                scaler.scale(total).backward()
                scaler.step(opt)
                scaler.update()
            else:
                total.backward()
                opt.step()

        train_flops = count_train_flops(lambda: _autocast(device, amp), loss_fn, model) / batch
        seconds, peak = _timed_phase(train_step, warmup, iters, device)
        result.update(
            train_images_per_s=batch * iters / seconds,
            train_ms_per_batch=1000 * seconds / iters,
            train_peak_mem_mb=peak,
            train_gflops=train_flops / 1e9,
            train_gflops_per_s=train_flops * batch * iters / seconds / 1e9,
        )
        log(f"[benchmark]   training:  {result['train_images_per_s']:.2f} img/s, peak mem {peak:.1f} MiB")
    del data, infer, loss_fn, model, built
    release_memory()
    return result


# ----------------------------------------------------------------------------- reporting


def machine_info(device: str) -> dict:
    import psutil

    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    info = dict(
        cpu_model=cpu,
        cpu_logical_cores=os.cpu_count(),
        cpu_physical_cores=psutil.cpu_count(logical=False),
        torch_threads=torch.get_num_threads(),
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        torch_version=torch.__version__,
        python=platform.python_version(),
        platform=platform.platform(),
        device=device,
        device_name=cpu,
    )
    if device.startswith("cuda"):
        info.update(device_name=torch.cuda.get_device_name(device), cuda_version=torch.version.cuda)
    return info


METRICS = [  # (key, label, format)
    ("params", "params (M)", lambda v: f"{v / 1e6:.3f}"),
    ("gflops", "GFLOPs / image (mul-add = 2)", lambda v: f"{v:.3f}"),
    ("gmacs", "GMACs / image (mmseg get_flops)", lambda v: f"{v:.3f}"),
    ("infer_images_per_s", "inference img/s", lambda v: f"{v:.2f}"),
    ("infer_peak_mem_mb", "inference peak mem MiB", lambda v: f"{v:.1f}"),
    ("infer_gflops_per_s", "inference GFLOP/s achieved", lambda v: f"{v:.1f}"),
    ("train_images_per_s", "training img/s", lambda v: f"{v:.2f}"),
    ("train_gflops_per_s", "training GFLOP/s achieved", lambda v: f"{v:.1f}"),
    ("train_peak_mem_mb", "training peak mem MiB", lambda v: f"{v:.1f}"),
]


def ratios(results: List[dict]) -> dict:
    """config2 / config1 for each metric both have (empty with one config)."""
    if len(results) < 2:
        return {}
    a, b = results[0], results[1]
    return {k: (b[k] / a[k] if a[k] else None) for k, _, _ in METRICS if k in a and k in b}


def format_table(results: List[dict]) -> str:
    names = [os.path.basename(r["config"]) for r in results]
    if len(set(names)) < len(names):  # same file name in two folders: show the folder too
        names = [os.path.join(os.path.basename(os.path.dirname(r["config"])), n) for r, n in zip(results, names)]
    rows = [["metric"] + names + (["ratio (2nd / 1st)"] if len(results) == 2 else [])]
    rat = ratios(results)
    for key, label, fmt in METRICS:
        if not any(key in r for r in results):
            continue
        row = [label] + [fmt(r[key]) if key in r else "-" for r in results]
        if len(results) == 2:
            row.append(f"{rat[key]:.3f}" if rat.get(key) is not None else "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(
    configs: Sequence[str],
    shape: Sequence[int],
    batch: int,
    device: str = "cpu",
    amp: Optional[str] = None,
    iters: int = 10,
    warmup: int = 2,
    train: bool = True,
    cfg_options: Sequence[str] = (),
    log: Callable[[str], None] = print,
    channels_last: str = "none",
) -> dict:
    """Benchmark one or two configs; returns the JSON-ready report. ``channels_last``: ``'none'``,
    ``'all'`` or ``'second'`` (the same config twice gives NCHW and channels-last side by side)."""
    if not 1 <= len(configs) <= 2:
        raise UserError(f"give one or two configs, got {len(configs)}")
    if len(shape) != 2 or min(shape) < 16:
        raise UserError(f"--shape H W with H, W >= 16, got {list(shape)}")
    if batch < 1 or iters < 1 or warmup < 0:
        raise UserError(f"need --batch >= 1, --iters >= 1, --warmup >= 0 (got {batch}, {iters}, {warmup})")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA device; use --device cpu")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise UserError(f"--device must be 'cpu' or 'cuda[:N]', got {device!r}")
    if amp not in (None, "bf16", "fp16"):
        raise UserError(f"--amp must be 'bf16' or 'fp16', got {amp!r}")
    if channels_last not in ("none", "all", "second"):
        raise UserError(f"--channels-last must be 'all' or 'second', got {channels_last!r}")
    if amp == "bf16" and not device.startswith("cuda"):
        from .cpu_precision import cpu_bf16_supported

        if not cpu_bf16_supported():
            log(
                f"[benchmark] warning: this CPU has no native bf16 ({torch.backends.cpu.get_cpu_capability()}): "
                f"the bf16 figures measure oneDNN's slow fallback"
            )
    results = [
        benchmark_config(
            c,
            shape,
            batch,
            device,
            amp,
            iters,
            warmup,
            train,
            cfg_options,
            log,
            channels_last=channels_last == "all" or (channels_last == "second" and i == 1),
        )
        for i, c in enumerate(configs)
    ]
    return dict(
        machine=machine_info(device),
        settings=dict(
            shape=list(shape),
            batch=batch,
            device=device,
            amp=amp,
            iters=iters,
            warmup=warmup,
            train=train,
            cfg_options=list(cfg_options),
            flops_method=FLOPS_NOTE,
            channels_last=channels_last,
            memory_method=CUDA_MEMORY_NOTE if device.startswith("cuda") else CPU_MEMORY_NOTE,
            train_step="forward (losses) + backward + SGD(lr=1e-5, momentum=0.9) step",
            inference_step="eval mode, torch.no_grad, framework predict forward",
            timestamp=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        ),
        results=results,
        ratio_direction="config2 / config1",
        ratios=ratios(results),
    )


def main(argv=None) -> int:
    """Command line of ``tools/benchmark.py``."""
    import argparse
    import json
    import sys

    from segclassics.utils.cli_args import add_cfg_options, add_debug

    from ..utils.reporting import run_reporting_user_errors

    p = argparse.ArgumentParser(
        description="Params, FLOPs, inference/training throughput and peak memory of one or two configs "
        "(mmseg/mmdet mmengine configs, detectron2 LazyConfig .py or yaml)."
    )
    p.add_argument("configs", nargs="*", metavar="CONFIG", help="one or two configs (two: side-by-side + ratio)")
    p.add_argument("--shape", type=int, nargs=2, default=(512, 512), metavar=("H", "W"), help="input size")
    p.add_argument("--batch", type=int, default=1, help="images per iteration")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="'cpu' or 'cuda[:N]'")
    p.add_argument("--amp", choices=["bf16", "fp16"], default=None, help="autocast dtype (default: fp32)")
    p.add_argument("--iters", type=int, default=10, help="timed iterations per phase")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations before timing")
    p.add_argument(
        "--train",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure training throughput and memory (--no-train to skip)",
    )
    add_cfg_options(p, note="applied to every config")
    p.add_argument(
        "--channels-last",
        nargs="?",
        const="all",
        default="none",
        choices=["none", "all", "second"],
        help="store the model's weights channels-last: 'all' configs, or only the 'second' (give the same "
        "config twice to compare NCHW and channels-last in one process)",
    )
    p.add_argument(
        "--peak",
        action="store_true",
        help="first measure this machine's 3x3-convolution and matrix-product GFLOP/s (fp32 NCHW, "
        "fp32 channels-last, bf16 where native): the ceiling for the achieved GFLOP/s",
    )
    p.add_argument("--json", help="write the report (machine info, settings, results, ratios) here")
    add_debug(p)
    args = p.parse_args(argv)
    reports = []
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    if not args.configs and not args.peak:
        p.error("give one or two configs, or --peak")
    peak = None
    if args.peak:
        from .conv_peak import format_peak, measure_peak

        peak = measure_peak(args.device, log=log)
        print(
            f"peak of this machine ({torch.get_num_threads()} torch threads, CPU capability {peak['cpu_capability']}):"
        )
        print(format_peak(peak))
        if not args.configs:
            if args.json:
                os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
                with open(args.json, "w") as f:
                    json.dump(dict(machine=machine_info(args.device), peak=peak), f, indent=2)
            return 0

    def measure() -> int:
        reports.append(
            run(
                args.configs,
                args.shape,
                args.batch,
                args.device,
                args.amp,
                args.iters,
                args.warmup,
                args.train,
                args.cfg_options,
                log=log,
                channels_last=args.channels_last,
            )
        )
        return 0

    if run_reporting_user_errors(measure, args.debug):
        return 2
    report = reports[0]
    if peak is not None:
        report["peak"] = peak
    m = report["machine"]
    print(
        f"device: {m['device_name']} ({args.device}), torch {m['torch_version']}, {m['torch_threads']} threads; "
        f"shape {args.shape[0]}x{args.shape[1]}, batch {args.batch}, amp {args.amp or 'off (fp32)'}, "
        f"{args.iters} timed iters after {args.warmup} warmup"
    )
    print(format_table(report["results"]))
    if len(report["results"]) == 2:
        print("ratio column: 2nd config / 1st config")
    print(f"FLOPs: {FLOPS_NOTE}")
    print(f"memory: {report['settings']['memory_method']}")
    if args.json:
        from segclassics.utils.writer import write_text

        write_text(args.json, json.dumps(report, indent=2), what="--json")
        print(f"json: {os.path.abspath(args.json)}")
    return 0
