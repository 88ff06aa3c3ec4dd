"""``zili.cuda``: whether a CUDA GPU can be used, as ``torch.cuda``.

The device itself is ``zili/devices/cuda.py`` (memory, NVRTC, launch, cuBLAS, graphs);
this module is the user-facing surface: ``zili.cuda.is_available()``,
``zili.cuda.device_count()``, ``zili.cuda.synchronize()``.
"""

from __future__ import annotations

from zili.devices import get_device
from zili.devices.cuda import driver_problem, is_available, nvrtc_version


def device_count() -> int:
    """How many CUDA GPUs zili can use (0 without CuPy, a driver or a GPU)."""
    if not is_available():
        return 0
    return int(get_device("cuda").count)


def synchronize() -> None:
    """Wait until every kernel queued on the cuda device has finished.

    Raises:
        RuntimeError: one line saying why, when the cuda device is not available.
    """
    get_device("cuda").synchronize()


__all__ = ["device_count", "driver_problem", "is_available", "nvrtc_version", "synchronize"]
