#!/usr/bin/env bash
# The GPU check as the device machine runs it: install the carried bundle (.gpu_bundle) offline
# into /tmp/site and run every part within 540 s, results into $OUT (docs/gpu.md).
cd "$(dirname "$0")/../.." && PYTHONUNBUFFERED=1 exec python3 dev/gpu_check/run.py --out "${OUT:-work_dirs/gpu_check}" "$@"
