# The torchrun (torch.distributed.run) launch shared by tools/dist_train.sh and
# tools/dist_test.sh, which source it (so that $0 in the usage message is theirs):
#   source tools/dist_launch.sh TOOL "NAME..." ARGS... GPUS [TOOL flags...]
# runs tools/TOOL on GPUS processes per node with ARGS (one per NAME, e.g. "CONFIG
# CHECKPOINT"), then --launcher pytorch and the remaining flags.
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node.
# PYTHON selects the interpreter (default: python on PATH).
TOOL=$1
read -r -a NAMES <<<"$2"
shift 2
if [ $# -le ${#NAMES[@]} ]; then
  echo "usage: $0 ${NAMES[*]} GPUS [tools/$TOOL flags...]" >&2
  exit 2
fi
ARGS=("${@:1:${#NAMES[@]}}")
GPUS=${*:${#NAMES[@]}+1:1}
shift $((${#NAMES[@]} + 1))
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

exec "${PYTHON:-python}" -m torch.distributed.run \
  --nnodes="$NNODES" \
  --node_rank="$NODE_RANK" \
  --master_addr="$MASTER_ADDR" \
  --master_port="$PORT" \
  --nproc_per_node="$GPUS" \
  "$TOOLS/$TOOL" "${ARGS[@]}" --launcher pytorch "$@"
