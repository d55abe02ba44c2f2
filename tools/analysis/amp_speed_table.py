#!/usr/bin/env python
"""Training and inference images/s of every semantic model family: fp32 NCHW against bf16 autocast,
side by side in one process, with the machine's measured ceiling (the table of docs/benchmark.md).

    python tools/analysis/amp_speed_table.py [--threads 2] [--iters 2 --warmup 1 --rounds 2]
        [--only fcn unet ...] [--json amp_speed.json]
    python tools/analysis/amp_speed_table.py --table-from run1.json run2.json

Each case (:data:`CASES`: config, input size, batch, config overrides) is measured by
``segclassics.engine.benchmark.benchmark_config`` (what ``tools/benchmark.py`` runs) in three
settings, interleaved per model (fp32, bf16, bf16-cl, fp32, bf16, ...) so that load from other
processes falls on all of them alike:

* ``fp32``: fp32 weights and activations, NCHW (how the configs train without ``--amp``);
* ``bf16``: ``torch.autocast('cpu', bfloat16)`` around forward and losses, fp32 master weights,
  NCHW (what ``tools/train.py --amp`` runs on a CPU with native bf16);
* ``bf16-cl``: the same with the model's weights stored channels-last
  (``segclassics.engine.cpu_precision.to_channels_last``).

First ``--peak`` (``segclassics.engine.conv_peak.measure_peak``) gives the machine's 3x3
convolution ceiling, against which the achieved GFLOP/s (``train_gflops_per_s``: 3x the forward
FLOPs of the training input per second) are set. The printed markdown table gives, per model and
setting, the lowest and highest of the ``--rounds`` measurements. A case that fails is reported
and skipped.
"""

import argparse
import json
import os
import runpy
import sys
import time

# segclassics importable from a source checkout (tools/_bootstrap.py)
runpy.run_path(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bootstrap.py"))

import torch  # noqa: E402

# ViT-L's layers as they are, 6 of the 24 (a full ViT-L step takes about 15 s here)
SETR_OPTIONS = (
    "model.data_preprocessor.size=(128,128)",
    "model.test_cfg.crop_size=(128,128)",
    "model.backbone.depth=6",
    "model.backbone.out_indices=(2,3,4,5)",
)
# (family, config, (H, W), batch, config overrides). Sizes are small so that the whole table takes
# about 20 minutes on 2 CPU cores; the SegNet-VGG16 and SETR ViT-L configs pad their inputs to the
# training crop, so their data preprocessor is set to the measured size; the SETR ViT-L configs keep
# 6 of their 24 transformer layers (:data:`SETR_OPTIONS`). FCN's first convolution pads by 100
# pixels (the paper's), so a 64x64 input already gives 262x262 maps.
CASES = [
    ("FCN-32s VGG16", "configs/fcn/fcn32s_vgg16_voc12aug.py", (64, 64), 1, ()),
    ("FCN-16s VGG16", "configs/fcn/fcn16s_vgg16_voc12aug.py", (64, 64), 1, ()),
    ("FCN-8s VGG16", "configs/fcn/fcn8s_vgg16_voc12aug.py", (64, 64), 1, ()),
    ("UNet same+BN, base 16", "configs/unet/unet_same-b16_drive_128x128_cpu.py", (128, 128), 4, ()),
    ("UNet valid, base 16", "configs/unet/unet_valid-b16_isbi2012_572x572_cpu.py", (572, 572), 1, ()),
    (
        "SegNet VGG16",
        "configs/segnet/segnet_vgg16_camvid.py",
        (120, 160),
        1,
        ("model.data_preprocessor.size=(120,160)",),
    ),
    ("SegNet-Basic", "configs/segnet/segnet_basic_camvid_cpu.py", (120, 160), 4, ()),
    (
        "SETR-Naive ViT-L, 6 of 24 layers",
        "configs/setr/setr_naive_vit-l_ade20k.py",
        (128, 128),
        1,
        SETR_OPTIONS,
    ),
    (
        "SETR-PUP ViT-L, 6 of 24 layers",
        "configs/setr/setr_pup_vit-l_ade20k.py",
        (128, 128),
        1,
        SETR_OPTIONS,
    ),
    (
        "SETR-MLA ViT-L, 6 of 24 layers",
        "configs/setr/setr_mla_vit-l_ade20k.py",
        (128, 128),
        1,
        SETR_OPTIONS,
    ),
    ("SETR-PUP ViT-tiny", "configs/setr/setr_pup_vit-tiny_synthetic.py", (128, 128), 4, ()),
    ("detectron2 UNet same+BN", "configs/detectron2/unet_synthetic.py", (128, 128), 4, ()),
    ("detectron2 SegNet-Basic", "configs/detectron2/segnet_basic_synthetic.py", (128, 128), 4, ()),
]
SETTINGS = [("fp32", None, False), ("bf16", "bf16", False), ("bf16-cl", "bf16", True)]


def _range(values, fmt="{:.2f}"):
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}-{fmt.format(hi)}"


def markdown(report) -> str:
    """One row per model: size, GFLOPs, train and inference img/s per setting, the training speed-up
    of each bf16 setting over fp32 within a round, achieved training GFLOP/s (each low-high over the
    rounds)."""
    names = [s for s, _, _ in SETTINGS]
    head = (
        "| model (config) | input, batch | GFLOPs/img | training img/s "
        + " / ".join(names)
        + " | training speed-up bf16 / bf16-cl | inference img/s "
        + " / ".join(names)
        + " | training GFLOP/s achieved "
        + " / ".join(names)
        + " |"
    )
    lines = [head, "|" + " --- |" * 7]
    for case in report["results"]:
        runs = case["runs"]
        if any(not runs.get(n) for n in names):
            lines.append(f"| {case['family']} (`{os.path.basename(case['config'])}`) | failed: {case.get('error')} |")
            continue

        train = " / ".join(_range([r["train_images_per_s"] for r in runs[n]]) for n in names)
        infer = " / ".join(_range([r["infer_images_per_s"] for r in runs[n]]) for n in names)
        gfs = " / ".join(_range([r["train_gflops_per_s"] for r in runs[n]], "{:.0f}") for n in names)
        # speed-up within each round (its settings measured right after each other), low-high
        speed = " / ".join(
            _range([b["train_images_per_s"] / f["train_images_per_s"] for f, b in zip(runs["fp32"], runs[n])]) + "x"
            for n in names[1:]
        )
        h, w = case["shape"]
        first = runs["fp32"][0]
        size = f"{h}x{w}, b{case['batch']}"
        if first["train_model_input_shape"] != [h, w]:
            size += f" (model input {first['train_model_input_shape'][0]}x{first['train_model_input_shape'][1]})"
        lines.append(
            f"| {case['family']} (`{os.path.basename(case['config'])}`) | {size} | {first['gflops']:.1f} | "
            f"{train} | {speed} | {infer} | {gfs} |"
        )
    return "\n".join(lines)


def merged(paths) -> dict:
    """The ``--json`` reports at ``paths`` as one: each model's measurements of all of them."""
    from segclassics.utils.reader import read_yaml  # JSON is YAML

    cases = {}
    for path in paths:
        for case in read_yaml(path)["results"]:
            into = cases.setdefault(case["config"], dict(case, runs={}))
            for name, runs in case["runs"].items():
                into["runs"].setdefault(name, []).extend(runs)
    return dict(results=list(cases.values()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--iters", type=int, default=2, help="timed iterations per phase and measurement")
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations before timing")
    p.add_argument("--rounds", type=int, default=2, help="measurements of each model and setting (interleaved)")
    p.add_argument("--only", nargs="+", default=None, help="only cases whose family or config contains one of these")
    p.add_argument("--no-peak", action="store_true", help="skip the convolution / matrix-product ceiling")
    p.add_argument("--json", help="write every measurement here")
    p.add_argument(
        "--table-from",
        nargs="+",
        metavar="JSON",
        help="measure nothing: print the table of these --json reports together (each model's ranges over all)",
    )
    a = p.parse_args(argv)
    if a.table_from:
        print(markdown(merged(a.table_from)))
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    from segclassics.engine.benchmark import benchmark_config, machine_info
    from segclassics.engine.conv_peak import format_peak, measure_peak
    from segclassics.engine.cpu_precision import cpu_bf16_supported
    from segclassics.engine.reproduce import machine_name
    from segclassics.utils.writer import write_text

    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    if not cpu_bf16_supported():
        log(f"warning: this CPU has no native bf16 ({torch.backends.cpu.get_cpu_capability()}): bf16 runs slowly")
    t_start = time.time()
    report = dict(
        machine=machine_name(),
        machine_info=machine_info("cpu"),
        threads=torch.get_num_threads(),
        iters=a.iters,
        warmup=a.warmup,
        rounds=a.rounds,
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        results=[],
    )
    if not a.no_peak:
        report["peak"] = measure_peak("cpu", log=log)
    cases = [c for c in CASES if a.only is None or any(k.lower() in (c[0] + c[1]).lower() for k in a.only)]
    quiet = lambda s: None  # noqa: E731
    for family, config, shape, batch, options in cases:
        case = dict(family=family, config=config, shape=list(shape), batch=batch, cfg_options=list(options), runs={})
        report["results"].append(case)
        t0 = time.time()
        try:
            for rnd in range(a.rounds):
                for name, amp, cl in SETTINGS:
                    r = benchmark_config(
                        config, shape, batch, "cpu", amp, a.iters, a.warmup, True, options, quiet, channels_last=cl
                    )
                    case["runs"].setdefault(name, []).append(r)
                    log(
                        f"[amp-table] {family} {name} round {rnd}: train {r['train_images_per_s']:.3f} img/s "
                        f"({r['train_gflops_per_s']:.0f} GFLOP/s), infer {r['infer_images_per_s']:.3f} img/s"
                    )
        except Exception as e:  # noqa: BLE001  one failing model must not end the table
            case["error"] = f"{type(e).__name__}: {e}"
            log(f"[amp-table] {family}: failed: {case['error']}")
        case["seconds"] = time.time() - t0
        if a.json:  # after every model, so an interrupted run keeps what it measured
            write_text(a.json, json.dumps(report, indent=1, default=str), what="--json")
    report["seconds"] = time.time() - t_start
    if "peak" in report:
        print(f"peak of this machine ({report['threads']} torch threads):")
        print(format_peak(report["peak"]))
        print()
    print(
        f"{report['machine']}, torch {torch.__version__}, {report['threads']} threads; {a.rounds} rounds of "
        f"{a.iters} timed iterations after {a.warmup} warm-up; {report['seconds'] / 60:.1f} min"
    )
    print(markdown(report))
    if a.json:
        write_text(a.json, json.dumps(report, indent=1, default=str), what="--json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
