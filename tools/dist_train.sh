#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG NPROC [train.py options]
# mmengine (mmseg/mmdet) and detectron2 (LazyConfig/yaml) configs; on GPU one process per GPU
# over nccl, on CPU the processes use gloo. Several machines: run it on each with NNODES,
# NODE_RANK (0 on the machine at MASTER_ADDR), MASTER_ADDR and PORT set (docs/distributed.md).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: tools/dist_train.sh CONFIG NPROC [train.py options]" >&2
  exit 2
fi
CONFIG=$1
NPROC=$2
PORT=${PORT:-29500}
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHON=${PYTHON:-python}
exec "$PYTHON" -m torch.distributed.run --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="$PORT" --nproc_per_node="$NPROC" \
  "$DIR/train.py" "$CONFIG" --launcher pytorch "${@:3}"
