"""Markdown tables of the GPU check's report (``run.py`` writes them to ``gpu_check.md``)."""

from __future__ import annotations

import json
import math


def _f(v, fmt="{:.3g}"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return fmt.format(v) if isinstance(v, (int, float)) else str(v)


def _table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _items(report, part):
    return report["parts"].get(part, {}).get("results", {}).get("items", {})


def _models(report) -> str:
    rows = []
    for name, it in _items(report, "models").items():
        if "error" in it or "skipped" in it:
            rows.append([name] + ["-"] * 7 + [it.get("error") or it.get("skipped")])
            continue
        cells = [name, _f(it.get("params"), "{:,}")]
        for key in ("parity_fp32", "parity_bf16"):
            par = it.get(key, {})
            if "error" in par:
                cells += ["error", "-"]
                continue
            out, grad = par.get("output", {}), par.get("grad", {})
            agree = f" (argmax {par['argmax_agreement']:.4f})" if "argmax_agreement" in par else ""
            ok = "yes" if par.get("within_criterion") else "NO"
            cells += [
                f"{_f(out.get('rel_l2'))} / {_f(out.get('max_abs_rel'))}{agree}",
                f"{_f(grad.get('rel_l2'))}; within: {ok}",
            ]
        steps = []
        for key in ("step_fp32", "step_bf16"):
            st = it.get(key, {})
            steps.append(
                "error: " + st["error"][:80]
                if "error" in st
                else f"loss {_f(st.get('total_loss'))}{'' if st.get('finite') else ' NOT finite'}, "
                f"{_f(st.get('train_step_s'), '{:.2f}')} s"
            )
        rows.append(cells + [" / ".join(steps), _f(it.get("seconds"), "{:.0f}")])
    head = [
        "model",
        "params",
        "fp32 output rel L2 / max rel",
        "fp32 grad rel L2",
        "bf16 output rel L2 / max rel",
        "bf16 grad rel L2",
        "framework train step fp32 / bf16",
        "s",
    ]
    return _table(head, rows)


def _setr(report) -> str:
    res = report["parts"].get("setr", {}).get("results", {})
    rows = []
    for name, it in res.get("items", {}).items():
        if "train_images_per_s" not in it:
            if "tflops" in it:
                rows.append([name, "-", f"{it['tflops']:.0f} TFLOP/s (n={it['n']})"] + ["-"] * 6)
            elif "error" in it or "skipped" in it:
                rows.append([name] + ["-"] * 7 + [(it.get("error") or it.get("skipped"))[:120]])
            continue
        rows.append(
            [
                name,
                it.get("batch"),
                _f(it["train_images_per_s"], "{:.2f}"),
                _f(it["train_peak_mem_mb"], "{:.0f}"),
                _f(it.get("train_mfu"), "{:.1%}"),
                _f(it["infer_images_per_s"], "{:.2f}"),
                _f(it["infer_peak_mem_mb"], "{:.0f}"),
                _f(it.get("infer_mfu"), "{:.1%}"),
                "",
            ]
        )
    text = _table(
        [
            "run",
            "batch",
            "train img/s",
            "train peak MiB",
            "train MFU",
            "infer img/s",
            "infer peak MiB",
            "infer MFU",
            "note",
        ],
        rows,
    )
    goal = res.get("goal", {})
    if goal:
        text += "\nDesign target (ours >= 1.5x mmseg training img/s and <= 0.6x its training peak memory):\n\n"
        text += _table(
            ["setting", "train speed-up", "train memory ratio", "met", "infer speed-up", "infer memory ratio"],
            [
                [
                    k,
                    f"{v['train_speedup']:.2f}x",
                    f"{v['train_memory_ratio']:.2f}",
                    "yes" if v["met"] else "no",
                    f"{v['infer_speedup']:.2f}x",
                    f"{v['infer_memory_ratio']:.2f}",
                ]
                for k, v in goal.items()
            ],
        )
    if res.get("largest_batch"):
        text += (
            "\nLargest batch that fitted (doubling until out of memory or out of time): "
            + ", ".join(f"{k}: {v}" for k, v in res["largest_batch"].items())
            + "\n"
        )
    return text


def _repro(report) -> str:
    rows = []
    cam = _items(report, "camvid")
    tr, ev = cam.get("train SegNet-Basic", {}), cam.get("evaluate SegNet-Basic on CamVid val", {})
    if tr or ev:
        rows.append(
            [
                "SegNet-Basic / CamVid val",
                _f(tr.get("iterations")),
                _f(tr.get("epochs"), "{:.1f}"),
                _f(tr.get("train_images_per_s"), "{:.1f} img/s"),
                ", ".join(f"{k} {ev[k]:.1f}" for k in ("G", "C", "mIoU", "BF") if k in ev)
                or ev.get("error", tr.get("error", "-")),
            ]
        )
    isb = _items(report, "isbi")
    tr, ev = isb.get("train UNet", {}), isb.get("evaluate UNet on ISBI slices 24-29", {})
    if tr or ev:
        rows.append(
            [
                "UNet / ISBI 2012 slices 24-29",
                _f(tr.get("iterations")),
                "-",
                _f(tr.get("train_tiles_per_s"), "{:.1f} tiles/s"),
                (
                    f"pixel error {ev['pixel_error']:.4f}, Rand error {ev['rand_error']:.4f}"
                    if "rand_error" in ev
                    else ev.get("error", tr.get("error", "-"))
                ),
            ]
        )
    return _table(["reproduction", "iterations", "epochs", "training throughput", "val metrics"], rows)


def _setr_size(report: dict) -> str:
    """'ViT-L/16 (24 layers) at 512x512' from the sizes the SETR part recorded (smaller in a smoke run)."""
    settings = report["parts"].get("setr", {}).get("results", {}).get("settings", {})
    layers, size = settings.get("layers", 24), settings.get("size", 512)
    return f"ViT-L/16 ({layers} of its 24 layers) at {size}x{size}" if layers != 24 else f"ViT-L/16 at {size}x{size}"


def markdown(report: dict) -> str:
    env = report.get("environment", {})
    pk = env.get("packages", {})
    lines = [
        f"# GPU check ({'smoke, ' if report.get('smoke') else ''}device {report.get('device')})",
        "",
        f"Machine: {env.get('gpu', 'no GPU')} ({env.get('gpu_memory_gib', '-')} GiB), {env.get('cpus')} CPUs, "
        f"Python {env.get('python')}, torch {pk.get('torch')} (CUDA {env.get('cuda')}), numpy {pk.get('numpy')}, "
        f"mmcv {pk.get('mmcv-lite') or pk.get('mmcv')} (ops: {env.get('mmcv_ops')}), mmseg "
        f"{pk.get('mmsegmentation')}, mmdet {pk.get('mmdet')}, detectron2 {pk.get('sal-detectron2')}. "
        f"Started {report.get('started')}; bundle install {report.get('install_s', '-')} s; total "
        f"{report.get('total_s', '-')} s of a {report.get('budget_s')} s budget.",
        "",
    ]
    if "error" in env:
        lines += ["Environment probe failed:", "", "```", env["error"], "```", ""]
    lines += ["| part | status | seconds | time box |", "|---|---|---|---|"]
    lines += [
        f"| {k} | {v['status']} | {v.get('seconds', '-')} | {v.get('time_box_s', '-')} |"
        for k, v in report["parts"].items()
    ]
    lines += [
        "",
        "## 1. Models: parity to CPU fp32 and a framework training step",
        "",
        "Relative L2 error ||device - cpu|| / ||cpu|| (and max abs error / max abs of the CPU output) "
        "of the logits (segmentation) or backbone+FPN features (Mask R-CNN), and of all gradients; "
        '"within" = inside the criteria (fp32 1e-4 / 1e-3, bf16 5e-2 / 5e-1, see common.py).',
        "",
        _models(report),
        f"## 2. SETR-PUP {_setr_size(report)}: ours vs mmseg",
        "",
        "MFU against 989.4 TFLOP/s (H200 dense bf16, datasheet); training FLOPs counted over forward + "
        "backward without recomputation.",
        "",
        _setr(report),
        "## 3. Reproductions (time-boxed)",
        "",
        _repro(report),
    ]
    if "diagnose" in report["parts"]:
        items = report["parts"]["diagnose"].get("results", {}).get("items", {})
        lines += ["## 4. Diagnosis (opt-in part)", "", "```json", json.dumps(items, indent=1), "```", ""]
    errors = {
        f"{p}: {k}": v for p, r in report["parts"].items() for k, v in r.get("results", {}).get("errors", {}).items()
    }
    if errors:
        lines += ["## Errors", ""]
        for k, v in errors.items():
            lines += [f"### {k}", "", "```", v[-1500:], "```", ""]
    return "\n".join(lines) + "\n"
