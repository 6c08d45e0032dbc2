#!/usr/bin/env bash
# Distributed training on one or more nodes with torchrun (torch.distributed.run).
#   tools/dist_train.sh CONFIG GPUS [tools/train.py flags...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
# PYTHON selects the interpreter (default: python on PATH).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG GPUS [tools/train.py flags...]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
TOOLS=$(cd "$(dirname "$0")" && pwd)

exec "${PYTHON:-python}" -m torch.distributed.run \
  --nnodes="$NNODES" \
  --node_rank="$NODE_RANK" \
  --master_addr="$MASTER_ADDR" \
  --master_port="$PORT" \
  --nproc_per_node="$GPUS" \
  "$TOOLS/train.py" "$CONFIG" --launcher pytorch "$@"
