#!/usr/bin/env python
"""The GPU check in one command: install the bundle offline, run the parts, each time-boxed.

    python dev/gpu_check/run.py --out "$OUT"                     # on the GPU machine (run.sh)
    python dev/gpu_check/run.py --device cpu --smoke --out DIR    # rehearsal on a CPU

Parts (each its own process, so a crash or a hang of one cannot take the others down; each
writes its results after every item, so a timed-out part keeps what it finished):

1. ``models``: every model forward + backward on the device in fp32 and bf16, parity to CPU fp32
   (``part_models.py``);
2. ``setr``: SETR-PUP ViT-L 512x512, ours vs mmseg's, speed / memory / MFU (``part_setr.py``);
3. ``camvid`` and ``isbi``: time-boxed SegNet-Basic / CamVid and UNet / ISBI 2012 reproductions
   (``part_repro.py``);
4. ``diagnose`` (opt-in): a profile of SETR's training step, SETR at batch 64, SegNet's pool
   indices CPU vs GPU (``part_diagnose.py``).

Writes ``gpu_check.json`` (everything), ``gpu_check.md`` (tables) and ``gpu_check.log`` (all
output) into ``--out``. Time: the whole run stays inside ``--budget`` seconds; part *i* may use
what is left of the budget minus the boxes of the parts after it (so time a part does not use
goes to the next one; with ``--smoke`` each part keeps its own box). Exit status 0 when every
part ran to its end, 1 otherwise.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# (part, script, extra args, GPU time box s, smoke time box s); GPU boxes sum to 470 s of a 540 s budget
PARTS = [
    ("models", "part_models.py", [], 110, 420),
    ("setr", "part_setr.py", [], 170, 200),
    ("camvid", "part_repro.py", ["camvid"], 95, 50),
    ("isbi", "part_repro.py", ["isbi"], 95, 50),
    ("diagnose", "part_diagnose.py", [], 150, 200),  # opt-in: --parts diagnose (not in the default run)
]
DEFAULT_PARTS = ["models", "setr", "camvid", "isbi"]
PACKAGES = [
    "torch",
    "torchvision",
    "numpy",
    "opencv-python-headless",
    "scipy",
    "pillow",
    "mmengine",
    "mmcv-lite",
    "mmcv",
    "mmsegmentation",
    "mmdet",
    "sal-detectron2",
    "fvcore",
    "iopath",
    "pycocotools",
    "shapely",
]


def install(bundle: str, site: str) -> float:
    wheels = sorted(glob.glob(os.path.join(bundle, "wheels", "*.whl")))
    if not wheels:
        raise SystemExit(
            f"error: no wheels in {bundle}/wheels; build the bundle first: python dev/gpu_check/build_bundle.py"
        )
    t0 = time.time()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--no-cache-dir",
            "--upgrade",
            "--disable-pip-version-check",
            "--target",
            site,
            *wheels,
        ],
        check=True,
    )
    return time.time() - t0


def _pump(stream, log, prefix: str) -> None:
    for line in iter(stream.readline, ""):
        log.write(line)
        log.flush()
        sys.stdout.write(prefix + line)
        sys.stdout.flush()


def run_part(name, script, extra, seconds, a, env, log) -> dict:
    """Run one part with a hard limit; returns its status and results."""
    out_json = os.path.join(a.work, f"{name}.json")
    t0 = time.time()
    # the part ends itself 10 s before it would be killed (its start-up counts)
    cmd = [
        sys.executable,
        os.path.join(HERE, script),
        *extra,
        "--device",
        a.device,
        "--json",
        out_json,
        "--deadline",
        str(t0 + max(seconds - 10, 5)),
        "--data-root",
        a.data_root,
    ] + (["--smoke"] if a.smoke else [])
    log.write(f"\n===== part {name}: {' '.join(cmd)} (time box {seconds:.0f} s)\n")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT, start_new_session=True
    )
    pump = threading.Thread(target=_pump, args=(proc.stdout, log, f"[{name}] "), daemon=True)
    pump.start()
    try:
        rc = proc.wait(timeout=seconds)
        status = "ok" if rc == 0 else f"failed (exit {rc})"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        status = f"timed out after {seconds:.0f} s (killed; results so far kept)"
    pump.join(timeout=5)
    res = dict(status=status, seconds=round(time.time() - t0, 1), time_box_s=round(seconds))
    if os.path.isfile(out_json):
        with open(out_json) as f:
            res["results"] = json.load(f)
    return res


def environment(env: dict) -> dict:
    code = (
        'import json, torch, platform, os, sys; sys.path.insert(0, os.path.join(os.getcwd(), "dev/gpu_check"));'
        "from common import versions;"
        f"d = dict(python=platform.python_version(), packages=versions({PACKAGES!r}), cpus=os.cpu_count(),"
        "cuda=torch.version.cuda, cuda_available=torch.cuda.is_available());"
        "d.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(torch.cuda.get_device_properties(0)"
        ".total_memory / 2**30, 1)) if torch.cuda.is_available() else None;"
        'import mmcv.ops; d["mmcv_ops"] = "torchvision shim" if getattr(mmcv.ops, "SHIM", False) else "compiled";'
        "print(json.dumps(d))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode:
        return dict(error=p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.environ.get("OUT") or os.path.join(ROOT, "work_dirs", "gpu_check"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and CPU time boxes (the rehearsal)")
    p.add_argument("--no-install", action="store_true", help="use the packages already importable")
    p.add_argument("--bundle", default=os.path.join(ROOT, ".gpu_bundle"))
    p.add_argument("--site", default="/tmp/site", help="where the bundle is installed (pip --target)")
    p.add_argument("--data-root", default=None, help="default: BUNDLE/data")
    p.add_argument("--budget", type=float, default=None, help="seconds for all parts (default 540; smoke 900)")
    p.add_argument(
        "--parts",
        default=",".join(DEFAULT_PARTS),
        help=f"comma-separated, from {[x[0] for x in PARTS]} (default: {','.join(DEFAULT_PARTS)})",
    )
    a = p.parse_args(argv)
    t_start = time.time()
    wanted = a.parts.split(",")
    unknown = sorted(set(wanted) - {x[0] for x in PARTS})
    if unknown:
        p.error(f"unknown part(s) {unknown}; choose from {[x[0] for x in PARTS]}")
    a.data_root = a.data_root or os.path.join(a.bundle, "data")
    a.budget = a.budget or (900.0 if a.smoke else 540.0)
    os.makedirs(a.out, exist_ok=True)
    a.work = tempfile.mkdtemp(prefix="gpu_check_parts_")  # per-part JSON, merged into --out
    report = dict(
        command=" ".join(sys.argv),
        device=a.device,
        smoke=a.smoke,
        budget_s=a.budget,
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        parts={},
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    paths = [os.path.join(ROOT, "plugins")]
    if not a.no_install:
        report["install_s"] = round(install(a.bundle, a.site), 1)
        paths.insert(0, a.site)
    env["PYTHONPATH"] = os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    report["environment"] = environment(env)
    print(f"[gpu-check] environment: {json.dumps(report['environment'])}", flush=True)
    deadline = t_start + a.budget
    with open(os.path.join(a.out, "gpu_check.log"), "w") as log:
        for i, (name, script, extra, _box, smoke_box) in enumerate(PARTS):
            if name not in wanted:
                continue
            later = sum((pb if not a.smoke else sb) for n, _, _, pb, sb in PARTS[i + 1 :] if n in wanted)
            seconds = deadline - time.time() - later
            if a.smoke:  # a rehearsal checks that each part runs; time left over is not spent
                seconds = min(seconds, smoke_box)
            if seconds < 20:
                report["parts"][name] = dict(status=f"skipped: {seconds:.0f} s left in the budget")
                continue
            print(f"[gpu-check] part {name}: time box {seconds:.0f} s", flush=True)
            report["parts"][name] = run_part(name, script, extra, seconds, a, env, log)
            print(
                f"[gpu-check] part {name}: {report['parts'][name]['status']} in {report['parts'][name]['seconds']} s",
                flush=True,
            )
            write(report, a.out)
    report["total_s"] = round(time.time() - t_start, 1)
    write(report, a.out)
    print(f"[gpu-check] done in {report['total_s']} s; results in {a.out}/gpu_check.{{json,md,log}}", flush=True)
    return 0 if all(v["status"] == "ok" for v in report["parts"].values()) else 1


def write(report: dict, out: str) -> None:
    from report import markdown

    with open(os.path.join(out, "gpu_check.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(out, "gpu_check.md"), "w") as f:
        f.write(markdown(report))


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
