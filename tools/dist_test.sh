#!/usr/bin/env bash
# Distributed evaluation with torchrun: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py options]
# mmengine and detectron2 configs; each process evaluates its share of the test set, the results
# are gathered once and rank 0 prints (and writes with --metrics-json) the metrics. On CPU the
# processes use gloo. Several machines: NNODES, NODE_RANK, MASTER_ADDR, PORT (docs/distributed.md).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py options]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
PORT=${PORT:-29500}
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHON=${PYTHON:-python}
exec "$PYTHON" -m torch.distributed.run --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="$PORT" --nproc_per_node="$NPROC" \
  "$DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
