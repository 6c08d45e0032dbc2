"""CenterMask / CenterMask-Lite deployment: ONNX export and an onnxruntime wrapper.

- :func:`export_onnx` / :func:`build_model`: write a config (+ checkpoint) as one ONNX
  graph (preprocessing, backbone, FPN, FCOS decoding and NMS, Eq. 2 RoIAlign, SAG-Mask,
  MaskIoU); ``tools/export_onnx.py`` is the command line.
- :class:`OnnxCenterMask`: run that file with onnxruntime on an image, mmdet-style results.
- :func:`paste_masks`: the numpy paste of the graph's 28 x 28 masks into the image.

See docs/deploy.md. ``onnx`` and ``onnxruntime`` come with the ``deploy`` extra
(``pip install -e .[deploy]``); this package imports them only when used.
"""
from .export import DEFAULT_OPSET, build_model, check_exportable, export_onnx
from .graph import OUTPUT_NAMES, POSTPROCESS_MODES, CenterMaskExportGraph, ExportError
from .runtime import OnnxCenterMask, paste_masks

__all__ = [
    "DEFAULT_OPSET", "OUTPUT_NAMES", "POSTPROCESS_MODES", "CenterMaskExportGraph",
    "ExportError", "OnnxCenterMask", "build_model", "check_exportable", "export_onnx",
    "paste_masks",
]
