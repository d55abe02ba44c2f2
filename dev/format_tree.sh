#!/usr/bin/env bash
# Apply ruff (configured in pyproject.toml [tool.ruff]) to segclassics' own Python code (every .py
# file git does not ignore: plugins/, tools/, tests/, configs/, dev/): the safe lint fixes (import order, unused imports, ...) and then the formatter. Idempotent: a second run
# changes nothing. Ends with `ruff check` and `ruff format --check`, so what ruff cannot fix by
# itself (long strings, unused loop variables, ...) is listed and the script exits non-zero;
# tests/test_lint.py checks the same paths.
#   bash dev/format_tree.sh            # or: make format
#   RUFF=/path/to/ruff bash dev/format_tree.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PATHS=(.)  # what git does not ignore, less pyproject.toml's extend-exclude
WANT="$(sed -n 's/^ruff==//p' requirements/lint.txt)"

RUFF="${RUFF:-}"
if [[ -z "$RUFF" ]]; then
  for candidate in "$ROOT/.venv/bin/ruff" "$(command -v ruff || true)"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then RUFF="$candidate"; break; fi
  done
fi
if [[ -z "$RUFF" ]]; then
  echo "error: ruff not found; install it with: pip install -r requirements/lint.txt (or set RUFF=PATH)" >&2
  exit 2
fi
HAVE="$("$RUFF" --version | awk '{print $2}')"
if [[ "$HAVE" != "$WANT" ]]; then
  echo "error: $RUFF is ruff $HAVE; requirements/lint.txt pins ruff $WANT (another release formats differently)" >&2
  exit 2
fi

# Fixes first (they may leave lines the formatter then wraps), then the formatter, then the fixes
# once more (the formatter can split an import block that isort then re-sorts), then check.
# (Their reports of what is left go to /dev/null: the check at the end lists it.)
"$RUFF" check --fix --quiet "${PATHS[@]}" >/dev/null || true
"$RUFF" format --quiet "${PATHS[@]}"
"$RUFF" check --fix --quiet "${PATHS[@]}" >/dev/null || true
"$RUFF" format --quiet "${PATHS[@]}"

status=0
"$RUFF" format --check "${PATHS[@]}" >/dev/null || { "$RUFF" format --check "${PATHS[@]}"; status=1; }
if ! "$RUFF" check "${PATHS[@]}"; then
  echo "format_tree: the violations above need a hand fix (or a '# noqa: CODE  reason' where the code is right)" >&2
  status=1
fi
exit $status
