# The smallest CenterMask-Lite: VoVNetV2-19-slim-dw (depthwise OSA layers, 1.4 M backbone
# parameters) on the toy set. Same training recipe as centermask-lite_v2-19-slim_fpn_toy.py.
_base_ = './centermask-lite_v2-19-slim_fpn_toy.py'

model = dict(backbone=dict(arch='V-19-slim-dw'))
