"""DLPack and host memory: hand arrays between zili, NumPy and PyTorch without copies.

Devices whose buffers are flat host NumPy arrays (``numpy``, ``cpu``) can wrap any
C-contiguous host array as a tensor that shares its memory. :func:`from_dlpack` takes any
object with ``__dlpack__`` (a NumPy array, a PyTorch CPU tensor, ...) that way; the other
direction is ``Tensor.__dlpack__``, so ``numpy.from_dlpack(t)`` and
``torch.from_dlpack(t)`` see zili's memory. A device with memory of its own (an
accelerator) gets a copy, since its buffers are not host pointers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zili import dtype as dtypes
from zili.devices import Device, get_device
from zili.ops.view import View
from zili.tensor import Tensor

_HOST: dict[str, bool] = {}


def shares_host_memory(device: Device) -> bool:
    """True when ``device`` keeps its buffers as flat host NumPy arrays (so a host array can
    become a buffer without a copy)."""
    known = _HOST.get(device.name)
    if known is None:
        probe = np.zeros(1, np.uint8)
        known = _HOST[device.name] = isinstance(device.from_numpy(probe), np.ndarray)
    return known


def host_tensor(array: np.ndarray, device: Any = None) -> Tensor:
    """A tensor over ``array``: the same memory on a host device when the array is
    C-contiguous and of a dtype zili has (a copy otherwise, or on an accelerator).

    Raises:
        TypeError: a dtype zili does not support (the message lists the supported ones).
    """
    dev = get_device(device)
    dtype = dtypes.to_dtype(array.dtype)
    if shares_host_memory(dev) and array.flags.c_contiguous and array.dtype == np.dtype(
            dtype.numpy):
        flat = array.reshape(-1)  # a view: contiguous arrays reshape without copying
        return Tensor._make(flat, View(tuple(array.shape)), dtype, dev)
    buffer = dev.from_numpy(np.ascontiguousarray(array))
    return Tensor._make(buffer, View(tuple(array.shape)), dtype, dev)


def from_dlpack(obj: Any, device: Any = None) -> Tensor:
    """A zili tensor sharing the memory of ``obj`` (anything with ``__dlpack__`` on the
    host: NumPy arrays, PyTorch CPU tensors, zili tensors), as ``torch.from_dlpack``.

    Raises:
        BufferError: ``obj`` lives on an accelerator, or its dtype has no NumPy equivalent
            for DLPack (bfloat16: convert it to float32 first, or pass ``obj.numpy()``).
        TypeError: ``obj`` has no ``__dlpack__``.
    """
    if isinstance(obj, Tensor) and (device is None or get_device(device) is obj.device):
        return obj.detach()
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"from_dlpack: {type(obj).__name__} does not implement __dlpack__; "
                        "pass a NumPy array, a PyTorch tensor or another DLPack producer")
    try:
        array = np.from_dlpack(obj)
    except (BufferError, RuntimeError, TypeError) as e:
        raise BufferError(f"from_dlpack: cannot view {type(obj).__name__} as host memory "
                          f"({e}); move it to the CPU (bfloat16: cast to float32) "
                          "first") from None
    return host_tensor(array, device=device)
