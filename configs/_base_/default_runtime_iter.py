# mmdet's default runtime for the iteration-based schedules of the published models
# (../_base_/schedules/centermask2_*.py, centermask-mb_*.py): checkpoints every 10k
# iterations, logs counted in iterations.
_base_ = 'mmdet::_base_/default_runtime.py'

default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10000))
log_processor = dict(by_epoch=False)
