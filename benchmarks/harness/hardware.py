"""What a benchmark ran on: CPU and GPU names, core and thread counts, library versions.

Only ratios measured on one machine in one run are comparable (perf-anchors §8), so every
result carries this record, and MLflow gets a one-line summary of it as ``cm.time_hardware``.
The software side is mmengine's ``collect_env`` (:func:`software_env`); on top of it come
what a latency depends on and it does not say: the CPU model, the CPUs and threads this
process may use, the load, bf16 support, and the mmcv / mmdet versions.
"""
from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import Any


def cpu_model_name(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The ``model name`` of the first CPU in ``cpuinfo``, else ``platform.processor()``.

    Neither psutil nor ``collect_env`` names the CPU (``platform.processor()`` is empty on
    Linux), hence the one read of ``/proc/cpuinfo``.
    """
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:  # noqa: BLE001 - a missing or broken package is just not recorded
        return None
    return getattr(mod, "__version__", None)


@functools.cache
def software_env() -> dict[str, str | None]:
    """mmengine's ``collect_env`` record as strings, plus ``MMCV`` and ``MMDetection``
    (None where not installed).

    Keys as mmengine names them: ``sys.platform``, ``Python``, ``CUDA available``, GPUs,
    ``CUDA_HOME`` / ``NVCC`` (CUDA only), ``GCC``, ``PyTorch``, ``PyTorch compiling details``
    (its BLAS / oneDNN / CUDA build, which CPU latencies depend on), ``TorchVision``,
    ``OpenCV``, ``MMEngine``. The numpy seed it also returns is state, not environment, and
    is left out. Collected once per process (it runs ``gcc --version``).
    """
    from mmengine.utils.dl_utils import collect_env

    env: dict[str, str | None] = {key: str(value) for key, value in collect_env().items()
                                  if key != "numpy_random_seed"}
    env["MMCV"] = _version("mmcv")
    env["MMDetection"] = _version("mmdet")
    return env


def hardware_info(device: str = "cpu") -> dict[str, Any]:
    """Describe the machine and software a measurement on ``device`` runs with.

    Args:
        device (str): ``'cpu'`` or ``'cuda'`` / ``'cuda:N'``.

    Returns:
        dict: ``device``, ``cpu_model``, ``cpu_count`` (logical CPUs of the machine),
        ``cpu_affinity`` (CPUs this process may use), ``torch_threads``,
        ``torch_interop_threads``, ``load_avg`` (1/5/15 min, to judge whether the machine
        was quiet), ``gpu_name`` / ``gpu_count`` / ``cuda`` / ``cudnn`` (None on CPU),
        ``mkldnn_bf16`` (CPU bf16 support), versions of python, torch, mmcv, mmengine, mmdet,
        ``platform``, ``env`` (:func:`software_env`) and ``summary`` (the one-line
        ``cm.time_hardware`` tag).
    """
    import torch

    env = dict(software_env())  # a copy: the cached record stays as collected
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    try:
        load: list[float] | None = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    on_cuda = device.startswith("cuda") and torch.cuda.is_available()
    index = (torch.device(device).index or 0) if on_cuda else 0
    try:
        bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        bf16 = None
    info: dict[str, Any] = {
        "device": device,
        "cpu_model": cpu_model_name(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_avg": load,
        "gpu_name": torch.cuda.get_device_name(index) if on_cuda else None,
        "gpu_count": torch.cuda.device_count() if on_cuda else 0,
        "cuda": torch.version.cuda if on_cuda else None,
        "cudnn": torch.backends.cudnn.version() if on_cuda else None,
        "mkldnn_bf16": bf16,
        "python": platform.python_version(),
        "platform": platform.platform(),
        # The versions as collect_env reads them, under the keys the reports use.
        "torch": env["PyTorch"],
        "mmcv": env["MMCV"],
        "mmengine": env["MMEngine"],
        "mmdet": env["MMDetection"],
        "env": env,
    }
    info["summary"] = time_hardware(info)
    return info


def time_hardware(info: dict[str, Any]) -> str:
    """One line naming the device, for the ``cm.time_hardware`` MLflow tag and table captions.

    Examples: ``'NVIDIA H100 80GB HBM3 (CUDA 12.4), torch 2.5.1'`` or
    ``'CPU AMD EPYC 7B13, 2 threads of 2 CPUs, torch 2.13.0+cpu'``.
    """
    if info.get("gpu_name"):
        return f"{info['gpu_name']} (CUDA {info.get('cuda')}), torch {info.get('torch')}"
    cpus = info.get("cpu_affinity") or info.get("cpu_count")
    return (f"CPU {info.get('cpu_model')}, {info.get('torch_threads')} threads of {cpus} CPUs, "
            f"torch {info.get('torch')}")
