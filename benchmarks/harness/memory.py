"""Peak memory of one phase of a benchmark: process RSS on the host, allocator peak on CUDA.

Host: the RSS comes from psutil. The peak is Linux's own (``VmHWM`` in ``/proc/self/status``),
which a process can reset by writing ``5`` to ``/proc/self/clear_refs``: an exact per-phase
peak even though several models run in one process. psutil (like ``getrusage``'s
``ru_maxrss``) has no resettable peak, so these two ``/proc`` files are the only ones read
here. Where that is not possible, a thread samples the RSS (psutil) every few milliseconds,
which can miss short spikes; the result says which method was used. Before each phase,
freed heap memory is handed back to the OS (glibc ``malloc_trim``) so the previous model's
leftovers do not hide in the baseline.

CUDA: ``torch.cuda.reset_peak_memory_stats`` then ``torch.cuda.max_memory_allocated``, the
figure mmdet's model zoo reports.
"""
from __future__ import annotations

import ctypes
import gc
import threading
from pathlib import Path
from typing import Any

import psutil
import torch

_MB = 1024.0 * 1024.0


def _peak_rss_kb() -> int | None:
    """``VmHWM`` of this process (KiB), None where the kernel does not report it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _peak_rss_kb() is not None


def release_memory() -> None:
    """Collect garbage and return free heap pages to the OS (glibc only; no-op elsewhere)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def current_rss_mb() -> float:
    """Resident set size of this process in MiB (psutil)."""
    return psutil.Process().memory_info().rss / _MB


class PeakMemory:
    """Context manager measuring the peak host RSS and CUDA allocation inside it.

    Args:
        device (torch.device | str): CUDA peaks are read only on a CUDA device.
        interval_s (float): Sampling period of the fallback RSS sampler.

    Attributes (after exit):
        result (dict): ``rss_before_mb``, ``peak_rss_mb`` (whole process, MiB),
        ``rss_method`` (``'VmHWM'`` or ``'sampled'``), ``peak_cuda_mb`` (None on CPU).
    """

    def __init__(self, device: torch.device | str = "cpu", interval_s: float = 0.002) -> None:
        self.cuda = torch.device(device).type == "cuda" and torch.cuda.is_available()
        self.interval_s = interval_s
        self.result: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sampled_peak = 0.0

    def _sample(self) -> None:
        proc = psutil.Process()
        while not self._stop.is_set():
            self._sampled_peak = max(self._sampled_peak, proc.memory_info().rss / _MB)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        release_memory()
        self.result = {"rss_before_mb": round(current_rss_mb(), 1)}
        self._hwm = _reset_hwm()
        if not self._hwm:
            self._sampled_peak = current_rss_mb()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / _MB, 1)
        else:
            self.result["peak_cuda_mb"] = None
        if self._hwm:
            self.result["peak_rss_mb"] = round((_peak_rss_kb() or 0) / 1024.0, 1)
            self.result["rss_method"] = "VmHWM"
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            self.result["peak_rss_mb"] = round(max(self._sampled_peak, current_rss_mb()), 1)
            self.result["rss_method"] = "sampled"
