#!/usr/bin/env bash
# Distributed training on one or more nodes with torchrun (torch.distributed.run).
#   tools/dist_train.sh CONFIG GPUS [tools/train.py flags...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
# PYTHON selects the interpreter (default: python on PATH).
set -euo pipefail
source "$(dirname "$0")/dist_launch.sh" train.py "CONFIG" "$@"
