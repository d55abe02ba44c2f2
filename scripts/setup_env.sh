#!/usr/bin/env bash
# Create ./.venv with every pinned dependency of segclassics. Idempotent: a second run
# that finds the same requirements installed does nothing. The two slow artefacts
# (mmcv 2.1.0 built from source, detectron2 repacked for Python 3.11) are kept in a wheel
# cache outside the checkout ($SEGCLASSICS_WHEELS, default ~/.cache/segclassics/wheels)
# so a fresh clone on the same machine reuses them; a fresh machine builds them once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SEGCLASSICS_VENV:-$ROOT/.venv}"
WHEELS="${SEGCLASSICS_WHEELS:-$HOME/.cache/segclassics/wheels}"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.segclassics-setup"
step() { printf '\n[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

command -v "$PYTHON" >/dev/null || PYTHON=python3
want="$( (cat "$ROOT/requirements/pinned.txt" "$ROOT/scripts/setup_env.sh" "$ROOT/pyproject.toml") | sha256sum | cut -c1-16)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  step "environment $VENV is up to date (stamp $want); nothing to do"
  exit 0
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

if ! ls "$WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
  step "building mmcv 2.1.0 (full, CPU ops) against torch 2.14 -- takes 20-40 min on 2 cores"
  BUILD="$(mktemp -d)"
  "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==2.1.0" -d "$BUILD"
  tar -xzf "$BUILD"/mmcv-2.1.0.tar.gz -C "$BUILD"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes c++14/17.
  sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-2.1.0/setup.py"
  (cd "$BUILD/mmcv-2.1.0" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
     "${PIP[@]}" wheel -v --no-build-isolation --no-deps . -w "$WHEELS" > "$BUILD/build.log" 2>&1) \
    || { tail -50 "$BUILD/build.log"; echo "mmcv build failed; full log: $BUILD/build.log" >&2; exit 1; }
  rm -rf "$BUILD"
else
  step "reusing $(ls "$WHEELS"/mmcv-2.1.0-*.whl)"
fi

D2="$WHEELS/sal_detectron2-0.7.2-py3-none-any.whl"
if [[ ! -f "$D2" ]]; then
  step "repacking sal-detectron2 0.7.2 for Python 3.11 (drops its cp310 _C and its top-level 'tools' package)"
  BUILD="$(mktemp -d)"
  "${PIP[@]}" download -q --only-binary=:all: --python-version 3.10 --no-deps "sal-detectron2==0.7.2" -d "$BUILD"
  (cd "$BUILD" && "$PY" -m wheel unpack -d un sal_detectron2-0.7.2-*.whl >/dev/null \
     && rm -rf un/*/tools un/*/detectron2/_C.*.so \
     && sed -i 's/^Tag: .*/Tag: py3-none-any/' un/*/*.dist-info/WHEEL \
     && sed -i '/^tools$/d' un/*/*.dist-info/top_level.txt \
     && mkdir -p out && "$PY" -m wheel pack -d out un/* >/dev/null && mv out/*.whl "$D2")
  rm -rf "$BUILD"
else
  step "reusing $D2"
fi

step "installing OpenMMLab, detectron2 and test requirements (pinned in requirements/pinned.txt)"
"${PIP[@]}" install -q --find-links "$WHEELS" -r "$ROOT/requirements/pinned.txt"

step "installing segclassics (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

"$PY" - <<'PYEOF'
import torch, mmcv, mmengine, mmseg, mmdet, detectron2
from mmcv.ops import roi_align  # compiled ops present (full mmcv)
print(f"torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, "
      f"mmseg {mmseg.__version__}, mmdet {mmdet.__version__}, detectron2 {detectron2.__version__}")
PYEOF
echo "$want" > "$STAMP"
step "set-up done in $(( $(date +%s) - START )) s"
