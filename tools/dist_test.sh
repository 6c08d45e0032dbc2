#!/usr/bin/env bash
# Distributed testing on one or more nodes with torchrun (torch.distributed.run).
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py flags...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
# PYTHON selects the interpreter (default: python on PATH).
set -euo pipefail
source "$(dirname "$0")/dist_launch.sh" test.py "CONFIG CHECKPOINT" "$@"
