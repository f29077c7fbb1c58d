"""A one-line description of the machine, printed by every benchmark next to its numbers."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one): the one count of the package."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def describe(gpu: bool | None = None) -> str:
    """CPU model, usable cores, GPU (when `gpu`, or when CUDA is available and `gpu` is None), torch and Python
    versions, and the load average at the time of the call (timings on a busy machine are not comparable)."""
    parts = [cpu_model(), f"{usable_cores()} usable cores"]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        if gpu or (gpu is None and torch.cuda.is_available()):
            parts.append(f"GPU {torch.cuda.get_device_name()}")
        parts.append(f"torch {torch.__version__}")
    parts.append(f"Python {platform.python_version()}")
    if hasattr(os, "getloadavg"):
        parts.append(f"load average {os.getloadavg()[0]:.1f}")
    return ", ".join(parts)
