#!/usr/bin/env bash
# Rehearse the GPU check on this CPU, as the GPU machine will run it: a Python 3.12 virtual
# environment holding only what the GPU image has (dev/gpu_check/image_packages.txt, installed
# from PyPI once; re-created with --fresh or when that list changes), the bundle installed offline
# (pip --no-index) into a fresh folder, then dev/gpu_check/run.py --device cpu --smoke.
#   bash dev/gpu_check/rehearse.sh [--fresh] [run.py options, e.g. --parts models]
# Results: work_dirs/gpu_check_rehearsal/gpu_check.{md,json,log}.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The first Python 3.12 that runs: a pyenv shim named python3.12 exists where 3.12 is installed
# but not selected, and answers "pyenv: python3.12: command not found"; so each candidate is run.
find_python312() {
  local c
  for c in "${PY312:-}" python3.12 "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 \
           /root/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
    [[ -n "$c" ]] || continue
    if "$c" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
      command -v "$c" 2>/dev/null || echo "$c"; return 0
    fi
  done
  echo "error: no Python 3.12 interpreter runs here (tried \$PY312, python3.12 on PATH and pyenv's versions);" \
       "install one or set PY312=/path/to/python3.12" >&2
  return 1
}
PY312="$(find_python312)"
echo "[rehearse] Python 3.12 interpreter: $PY312"
VENV="${GPU_REHEARSAL_VENV:-$HOME/.cache/segclassics/gpu-rehearsal-venv}"
OUTDIR="${GPU_REHEARSAL_OUT:-$ROOT/work_dirs/gpu_check_rehearsal}"
want="$(sha256sum "$ROOT/dev/gpu_check/image_packages.txt" | cut -c1-16)"
if [[ "${1:-}" == "--fresh" ]]; then rm -rf "$VENV"; shift; fi
if [[ ! -f "$VENV/.image-packages" || "$(cat "$VENV/.image-packages")" != "$want" ]]; then
  echo "[rehearse] creating $VENV with $PY312 and the GPU image's packages (network; ~2 min, ~5 GB)"
  rm -rf "$VENV"
  "$PY312" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/dev/gpu_check/image_packages.txt"
  echo "$want" > "$VENV/.image-packages"
fi
if [[ ! -d "$ROOT/.gpu_bundle/wheels" ]]; then
  echo "[rehearse] no bundle: building it with $ROOT/.venv/bin/python (network)"
  "$ROOT/.venv/bin/python" "$ROOT/dev/gpu_check/build_bundle.py"
fi
SITE="$(mktemp -d)"
trap 'rm -rf "$SITE"' EXIT
cd "$ROOT"
echo "[rehearse] $("$VENV/bin/python" --version), site $SITE, output $OUTDIR"
time env -u PYTHONPATH PIP_NO_INDEX=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" \
  "$VENV/bin/python" dev/gpu_check/run.py --device cpu --smoke --site "$SITE" --out "$OUTDIR" "$@"
