#!/usr/bin/env bash
# Create ./.venv with every pinned dependency of segclassics. Idempotent: a second run
# that finds the same requirements installed (and the same mmcv build key) does nothing.
# The two slow artefacts (mmcv 2.1.0 built from source, detectron2 repacked for Python 3.11)
# are kept in a wheel cache outside the checkout ($SEGCLASSICS_WHEELS, default
# ~/.cache/segclassics/wheels) so a fresh clone on the same machine reuses them; a fresh
# machine builds them once.
#
# mmcv is built with CUDA ops when torch is a CUDA build, a GPU is visible (or
# TORCH_CUDA_ARCH_LIST is set) and nvcc matches torch's CUDA; otherwise with CPU ops and a
# warning. dev/mmcv_build_key.py makes that decision and names the cache folder
# ($WHEELS/mmcv/<key>: mmcv, Python, platform, torch, CUDA, ops kind), so a CPU-ops wheel is
# never reused on a GPU host.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SEGCLASSICS_VENV:-$ROOT/.venv}"
WHEELS="${SEGCLASSICS_WHEELS:-$HOME/.cache/segclassics/wheels}"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.segclassics-setup"
MMCV_VERSION=2.1.0
BUILD_KEY=("$ROOT/dev/mmcv_build_key.py" --mmcv "$MMCV_VERSION")
step() { printf '\n[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

command -v "$PYTHON" >/dev/null || PYTHON=python3
want="$( (cat "$ROOT/requirements/pinned.txt" "$ROOT/requirements/lint.txt" "$ROOT/requirements/lint_openmmlab.txt" \
  "$ROOT/requirements/lint_detectron2.txt" "$ROOT/scripts/setup_env.sh" "$ROOT/dev/mmcv_build_key.py" \
  "$ROOT/pyproject.toml") | sha256sum | cut -c1-16)"
if [[ -f "$STAMP" ]]; then
  # The mmcv key is part of the stamp: the same venv on a host that gains a GPU rebuilds mmcv.
  key_now="$("$VENV/bin/python" "${BUILD_KEY[@]}" 2>/dev/null | sed -n 's/^MMCV_KEY=//p' || true)"
  if [[ "$(cat "$STAMP")" == "$want $key_now" ]]; then
    step "environment $VENV is up to date (stamp $want, mmcv $key_now); nothing to do"
    exit 0
  fi
fi
START=$(date +%s)
mkdir -p "$WHEELS"

if [[ ! -x "$VENV/bin/python" ]]; then
  step "creating virtual environment $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

step "installing torch 2.14.1 / torchvision 0.29.1"
"${PIP[@]}" install -q "torch==2.14.1" "torchvision==0.29.1"

step "installing build tools and mmcv's build-time needs"
# setuptools < 81 still ships pkg_resources, which mmcv 2.1.0's setup.py imports.
"${PIP[@]}" install -q "setuptools>=77.0.3,<81" wheel ninja "numpy>=1.24,<2" \
  "opencv-python>=4.8,<4.11" "mmengine==0.10.7" addict packaging Pillow pyyaml yapf

decision="$("$PY" "${BUILD_KEY[@]}")"   # MMCV_KEY=, MMCV_OPS=cpu|cuda, MMCV_ARCH=; warnings on stderr
eval "$decision"
MMCV_DIR="$WHEELS/mmcv/$MMCV_KEY"
mkdir -p "$MMCV_DIR"
mmcv_wheel() { ls "$MMCV_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -1; }
if [[ -z "$(mmcv_wheel)" ]]; then
  # A wheel from the older unkeyed cache ($WHEELS/mmcv-*.whl) moves into its key when it is
  # provably this host's build (CPU ops, same mmcv/Python/platform/torch).
  for legacy in "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl; do
    if [[ -f "$legacy" ]] && "$PY" "${BUILD_KEY[@]}" --adopt "$legacy"; then
      mv "$legacy" "$MMCV_DIR/"
    fi
  done
fi
if [[ -z "$(mmcv_wheel)" ]]; then
  step "building mmcv $MMCV_VERSION ($MMCV_OPS ops${MMCV_ARCH:+, GPU arch $MMCV_ARCH}) for $MMCV_KEY -- takes 20-40 min on 2 cores"
  BUILD="$(mktemp -d)"
  "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$BUILD"
  tar -xzf "$BUILD/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes c++14/17.
  sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
  if [[ "$MMCV_OPS" == cuda ]]; then CUDA_ENV=(FORCE_CUDA=1 "TORCH_CUDA_ARCH_LIST=$MMCV_ARCH"); else CUDA_ENV=(FORCE_CUDA=0); fi
  (cd "$BUILD/mmcv-$MMCV_VERSION" && env MMCV_WITH_OPS=1 "${CUDA_ENV[@]}" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
     "${PIP[@]}" wheel -v --no-build-isolation --no-deps . -w "$BUILD/out" > "$BUILD/build.log" 2>&1) \
    || { tail -50 "$BUILD/build.log"; echo "mmcv build failed; full log: $BUILD/build.log" >&2; exit 1; }
  mv "$BUILD"/out/mmcv-*.whl "$MMCV_DIR/"
  rm -rf "$BUILD"
else
  step "reusing $(mmcv_wheel)"
fi
if [[ "$(cat "$VENV/.segclassics-mmcv-key" 2>/dev/null)" != "$MMCV_KEY" ]]; then
  step "installing $(basename "$(mmcv_wheel)") ($MMCV_KEY)"
  "${PIP[@]}" install -q --no-deps --force-reinstall "$(mmcv_wheel)"
  echo "$MMCV_KEY" > "$VENV/.segclassics-mmcv-key"
fi

D2="$WHEELS/sal_detectron2-0.7.2-py3-none-any.whl"
if [[ ! -f "$D2" ]]; then
  step "repacking sal-detectron2 0.7.2 for Python 3.11 (drops its cp310 _C and its top-level 'tools' package)"
  "$PY" "$ROOT/dev/repack_detectron2.py" "$WHEELS" >/dev/null
else
  step "reusing $D2"
fi

step "installing OpenMMLab, detectron2, test and lint requirements (pinned in requirements/pinned.txt, lint.txt)"
"${PIP[@]}" install -q --find-links "$WHEELS" -r "$ROOT/requirements/pinned.txt" -r "$ROOT/requirements/lint.txt"

step "installing segclassics (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

MMCV_OPS="$MMCV_OPS" "$PY" - <<'PYEOF'
import os
import torch, mmcv, mmengine, mmseg, mmdet, detectron2
from mmcv.ops import get_compiling_cuda_version, roi_align  # noqa: F401  compiled ops present (full mmcv)
cuda = get_compiling_cuda_version()
built = "cpu" if cuda == "not available" else "cuda"
assert built == os.environ["MMCV_OPS"], f"mmcv ops are {built}, the set-up decided {os.environ['MMCV_OPS']}"
print(f"torch {torch.__version__}, mmcv {mmcv.__version__} ({'CPU ops' if built == 'cpu' else 'CUDA ' + cuda + ' ops'}), "
      f"mmengine {mmengine.__version__}, mmseg {mmseg.__version__}, mmdet {mmdet.__version__}, "
      f"detectron2 {detectron2.__version__}")
PYEOF
# The upstream repositories' own linters, at their pins, one venv each (their pins conflict):
# dev/tests/test_upstream_lint.py checks the assembled projects/ folders with them.
for lint in openmmlab detectron2; do
  LV="$ROOT/.venv-lint/$lint"
  REQ="$ROOT/requirements/lint_$lint.txt"
  if [[ "$(cat "$LV/.segclassics-requirements" 2>/dev/null)" != "$(cat "$REQ")" ]]; then
    step "installing the $lint linters (requirements/lint_$lint.txt) into .venv-lint/$lint"
    rm -rf "$LV"
    "$PYTHON" -m venv "$LV"
    "$LV/bin/pip" install -q -r "$REQ"
    cp "$REQ" "$LV/.segclassics-requirements"
  fi
done
echo "$want $MMCV_KEY" > "$STAMP"
step "set-up done in $(( $(date +%s) - START )) s"
