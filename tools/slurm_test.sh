#!/usr/bin/env bash
# Evaluation on a Slurm cluster: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
# srun starts GPUS processes, GPUS_PER_NODE per node; each maps Slurm's variables (SLURM_PROCID,
# SLURM_NTASKS, SLURM_LOCALID, SLURM_NODELIST) to torchrun's (--launcher slurm) and joins the job
# (nccl on GPUs, gloo without). mmengine and detectron2 configs alike; see docs/distributed.md.
#   GPUS=16 GPUS_PER_NODE=8 tools/slurm_test.sh PARTITION JOB ...   # two nodes of 8 GPUs
# Also: CPUS_PER_TASK (5), MASTER_PORT (29500), GRES (gpu:GPUS_PER_NODE; GRES= on CPU nodes),
# SRUN_ARGS (extra srun options), PYTHON.
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
GRES=${GRES-gpu:$GPUS_PER_NODE}
PYTHON=${PYTHON:-python}
DIR="$(cd "$(dirname "$0")" && pwd)"
export MASTER_PORT=${MASTER_PORT:-29500}
# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
exec srun -p "$PARTITION" --job-name="$JOB_NAME" ${GRES:+--gres="$GRES"} --ntasks="$GPUS" \
  --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
  "$PYTHON" -u "$DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher slurm "${@:4}"
