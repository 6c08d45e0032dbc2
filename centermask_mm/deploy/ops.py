"""The two operators of the export graph that plain torch lacks: NMS and RoIAlign.

Each is a ``torch.autograd.Function`` whose ``forward`` runs mmcv's CPU kernel (what
``CenterMask.predict`` uses, so the graph module also runs eagerly) and whose ``symbolic``
emits the *standard* ONNX operator (``NonMaxSuppression``, ``RoiAlign``), not one of
mmcv's custom ``mmcv::`` nodes, which no stock runtime implements.

Why the two kernels agree:

- NMS: mmcv's CPU NMS and onnxruntime's ``NonMaxSuppression`` are both greedy in
  descending score order and suppress when ``IoU > iou_threshold``, with the IoU computed
  the same way (``inter / (area_i + area_j - inter)``, coordinates as given, no +1).
- RoIAlign: ONNX ``RoiAlign`` (opset >= 16) with ``coordinate_transformation_mode=
  'half_pixel'`` is mmcv's ``aligned=True`` (``'output_half_pixel'`` is ``aligned=False``),
  and ``sampling_ratio=0`` is the same adaptive ``ceil(roi_size / output_size)`` grid.
"""
from __future__ import annotations

import torch
from torch import Tensor

#: First ONNX opset whose RoiAlign has ``coordinate_transformation_mode``.
MIN_OPSET = 16


def _const(g, value: Tensor):
    return g.op("Constant", value_t=value)


class SingleClassNMS(torch.autograd.Function):
    """Greedy NMS on one set of boxes: indices of the kept boxes, best score first.

    Args (of ``apply``):
        boxes (Tensor): (N, 4) float ``x1, y1, x2, y2``.
        scores (Tensor): (N,) float.
        iou_threshold (float): Suppress a box whose IoU with a kept one is above this.
        max_output (int): Keep at most this many boxes.

    Returns:
        Tensor: (K,) int64 indices into ``boxes``, K <= max_output, in descending score
        order. Class-aware NMS is done by the caller with mmcv's coordinate-offset trick.
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, iou_threshold: float,
                max_output: int) -> Tensor:
        from mmcv.ops import nms

        if boxes.shape[0] == 0:
            return boxes.new_zeros((0,), dtype=torch.long)
        _, keep = nms(boxes, scores, iou_threshold)
        return keep[:max_output]

    @staticmethod
    def symbolic(g, boxes, scores, iou_threshold: float, max_output: int):
        boxes3 = g.op("Unsqueeze", boxes, _const(g, torch.tensor([0], dtype=torch.long)))
        scores3 = g.op("Unsqueeze", scores, _const(g, torch.tensor([0, 1], dtype=torch.long)))
        selected = g.op(
            "NonMaxSuppression", boxes3, scores3,
            _const(g, torch.tensor([max_output], dtype=torch.long)),
            _const(g, torch.tensor([iou_threshold], dtype=torch.float)),
            center_point_box_i=0)
        # selected: (K, 3) rows (batch, class, box index); keep the box index.
        column = g.op("Gather", selected, _const(g, torch.tensor([2], dtype=torch.long)),
                      axis_i=1)
        return g.op("Squeeze", column, _const(g, torch.tensor([1], dtype=torch.long)))


class RoIAlignAvg(torch.autograd.Function):
    """Average RoIAlign of one feature map.

    Args (of ``apply``):
        feat (Tensor): (B, C, H, W) features.
        rois (Tensor): (N, 4) boxes ``x1, y1, x2, y2`` in input-image pixels.
        batch_idx (Tensor): (N,) int64 image index of every box.
        output_size (int): S of the (S, S) output.
        spatial_scale (float): 1 / stride of ``feat``.
        sampling_ratio (int): Samples per bin and axis; 0 is adaptive.
        aligned (bool): Half-pixel offset (mmcv ``aligned=True``).

    Returns:
        Tensor: (N, C, S, S).
    """

    @staticmethod
    def forward(ctx, feat: Tensor, rois: Tensor, batch_idx: Tensor, output_size: int,
                spatial_scale: float, sampling_ratio: int, aligned: bool) -> Tensor:
        from mmcv.ops import roi_align

        if rois.shape[0] == 0:
            return feat.new_zeros((0, feat.shape[1], output_size, output_size))
        rois5 = torch.cat([batch_idx.to(rois).unsqueeze(1), rois], dim=1)
        return roi_align(feat, rois5, (output_size, output_size), spatial_scale,
                         sampling_ratio, "avg", aligned)

    @staticmethod
    def symbolic(g, feat, rois, batch_idx, output_size: int, spatial_scale: float,
                 sampling_ratio: int, aligned: bool):
        return g.op(
            "RoiAlign", feat, rois, batch_idx,
            output_height_i=output_size, output_width_i=output_size,
            sampling_ratio_i=sampling_ratio, spatial_scale_f=spatial_scale, mode_s="avg",
            coordinate_transformation_mode_s="half_pixel" if aligned else "output_half_pixel")


#: First ONNX opset with DeformConv (deformable convolution, DCN).
DEFORM_CONV_OPSET = 19


class ModulatedDeformConv(torch.autograd.Function):
    """Modulated deformable convolution (DCNv2) exported as ONNX ``DeformConv`` (opset 19).

    ``forward`` is mmcv's ``modulated_deform_conv2d``. ONNX's offset layout (per offset
    group and kernel position a (dy, dx) pair, shape (N, 2 * G * kH * kW, oH, oW)) and mask
    layout (N, G * kH * kW, oH, oW) are mmcv's, so the tensors pass through unchanged.

    Args (of ``apply``): ``x`` (N, C, H, W), ``offset``, ``mask``, ``weight``, ``bias``
    (a tensor: zeros for a conv without bias), then mmcv's ``stride``, ``padding``,
    ``dilation``, ``groups``, ``deform_groups``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, offset: Tensor, mask: Tensor, weight: Tensor, bias,
                stride, padding, dilation, groups: int, deform_groups: int) -> Tensor:
        from mmcv.ops import modulated_deform_conv2d

        return modulated_deform_conv2d(x, offset, mask, weight, bias, stride, padding,
                                       dilation, groups, deform_groups)

    @staticmethod
    def symbolic(g, x, offset, mask, weight, bias, stride, padding, dilation, groups: int,
                 deform_groups: int):
        def pair(v) -> list[int]:
            return [int(i) for i in v] if isinstance(v, tuple | list) else [int(v)] * 2

        pads = pair(padding)
        return g.op("DeformConv", x, weight, offset, bias, mask, strides_i=pair(stride),
                    pads_i=pads + pads, dilations_i=pair(dilation), group_i=int(groups),
                    offset_group_i=int(deform_groups))


def modulated_deform_conv_forward(module, x: Tensor) -> Tensor:
    """``ModulatedDeformConv2dPack.forward`` with the ONNX-exportable convolution."""
    out = module.conv_offset(x)
    o1, o2, mask = torch.chunk(out, 3, dim=1)
    offset = torch.cat((o1, o2), dim=1)
    # A zero bias for a conv without one: the symbolic then always has all five inputs.
    bias = module.bias if module.bias is not None else module.weight.new_zeros(
        module.weight.shape[0])
    return ModulatedDeformConv.apply(x, offset, torch.sigmoid(mask), module.weight,
                                     bias, module.stride, module.padding,
                                     module.dilation, module.groups, module.deform_groups)
