"""The device interface a chip implements, and the registry that finds devices by name.

A device owns memory and runs primitives. The smallest device is an *interpreter* such as
``numpy``: it implements :meth:`Device.execute` for every non-movement primitive directly.
Code-generating devices (``cpu``, later ``opencl`` and ``cuda``) get their ``execute`` from
the compiler instead and implement only memory, ``compile`` and ``launch``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zili.dtype import ALL_DTYPES, DType
from zili.ops import Op
from zili.ops.view import View

Operand = tuple[Any, View, DType]  # (buffer, view onto it, element type)


@dataclass
class Capabilities:
    """What a device offers: the element types it runs, its memory, and for work-group
    devices the local memory per group and the largest work-group. ``kind`` is
    ``interpreter``, ``cpu``, ``gpu`` or ``accelerator``; ``description`` names the chip."""

    kind: str
    description: str
    dtypes: tuple[DType, ...] = ALL_DTYPES
    memory: int = 0
    compute_units: int = 0
    local_memory: int = 0
    max_work_group: int = 1
    extensions: tuple[str, ...] = field(default_factory=tuple)


class Device:
    """Base class: memory (copy in / copy out) plus primitive execution.

    Buffers are opaque to the rest of zili: only the device that made one reads it.
    """

    name: str = "abstract"
    compiles = False  # True for devices that run compiled kernels (CompiledDevice)
    # The collective library that moves this device's buffers without the host ("nccl" on
    # cuda): zili.distributed's backend of that name gets the buffers themselves.
    collectives: str | None = None

    def from_numpy(self, array: np.ndarray) -> Any:
        """Copy a host array (any shape, C-contiguous) into a new flat device buffer."""
        raise NotImplementedError

    def to_numpy(self, buffer: Any, view: View, dtype: DType) -> np.ndarray:
        """Copy the elements that ``view`` shows of ``buffer`` into a new host array."""
        raise NotImplementedError

    def execute(self, op: Op, shape: tuple[int, ...], dtype: DType, inputs: list[Operand],
                arg: Any = None) -> Any:
        """Run one primitive and return a new contiguous buffer holding ``shape`` elements.

        ``arg`` carries the op's parameter: the target dtype for CAST, the reduced axes for
        SUM/AMAX, the axis for GATHER/SCATTER_ADD, (seed, counter) for RANDOM.
        """
        raise NotImplementedError

    def assign(self, buffer: Any, view: View, dtype: DType, value: Operand) -> None:
        """Write ``value``'s elements into the existing ``buffer`` at the positions ``view``
        addresses (strides, offset), in place: every tensor sharing ``buffer`` sees them.

        This is how in-place operations (``add_``, ``x[i] = v``, ``copy_``) reach memory.
        ``value`` is an operand of ``view``'s shape and of ``dtype`` read through its own
        view; it may be a view of ``buffer`` itself (the device reads all of it before
        writing). Call :func:`check_assign` first; a device may assume it passed.
        """
        raise NotImplementedError

    def host_array(self, buffer: Any, view: View, dtype: DType) -> np.ndarray | None:
        """A NumPy array sharing memory with ``buffer`` through ``view`` (writes to either
        are seen by the other), or None when the buffer is not host memory or the view is
        padded. Host devices implement it; ``Tensor.numpy()`` copies when it gives None."""
        return None

    def adopt_numpy(self, flat: np.ndarray) -> Any | None:
        """Use the 1-D C-contiguous host array ``flat`` itself as a buffer (no copy), or
        None when the device's memory is not host memory (``zili.from_numpy`` then copies)."""
        return None

    def synchronize(self) -> None:
        """Wait until all queued work on the device has finished (a no-op on the host)."""

    def capabilities(self) -> Capabilities:
        """What this device offers (dtypes, memory, work-group limits)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"device(type={self.name!r})"


def check_assign(buffer_len: int, view: View, dtype: DType, value: Operand) -> None:
    """Validate a write of ``value`` through ``view`` into a buffer of ``buffer_len`` elements.

    Raises:
        ValueError: if the view is masked (padding has no memory to write), writes one
            element twice (a stride-0, expanded axis), reaches outside the buffer, or the
            value's shape or dtype differ from the view's.
    """
    _, value_view, value_dtype = value
    if view.mask is not None:
        raise ValueError(f"assign: cannot write through a padded (masked) view {view}; "
                         "write into the tensor it was padded from instead")
    if any(size > 1 and stride == 0 for size, stride in zip(view.shape, view.strides)):
        raise ValueError("assign: unsupported operation: more than one element of the "
                         f"written-to tensor refers to a single memory location (view {view});"
                         " clone() the tensor before writing to it")
    if value_view.shape != view.shape or value_dtype is not dtype:
        raise ValueError(f"assign: value of shape {value_view.shape} and dtype "
                         f"{value_dtype.name} does not match the destination's shape "
                         f"{view.shape} and dtype {dtype.name}; expand and cast it first")
    low, high = view.buffer_span()
    if view.numel and (low < 0 or high > buffer_len):
        raise ValueError(f"assign: view {view} reaches outside a buffer of {buffer_len} "
                         "elements")


_FACTORIES: dict[str, Callable[[], Device]] = {}
_INSTANCES: dict[str, Device] = {}
_PRIORITY: dict[str, int | Callable[[], int]] = {}


def register_device(name: str, factory: Callable[[], Device],
                    priority: int | Callable[[], int] = 0) -> None:
    """Make ``factory`` the way to build device ``name``; the highest priority is the
    default device. ``priority`` may be a function, asked only when the default is chosen
    (so probing for a GPU costs nothing until then). A factory raises an exception whose
    message says why the device is unavailable on this machine."""
    _FACTORIES[name] = factory
    _PRIORITY[name] = priority


def _priority(name: str) -> int:
    value = _PRIORITY[name]
    return value() if callable(value) else value


def available_devices() -> list[str]:
    """Names of the registered devices, most preferred first."""
    return sorted(_FACTORIES, key=lambda n: -_priority(n))


def get_device(name: str | Device | None = None) -> Device:
    """Return the device called ``name`` (``None``: the default device), creating it once.

    Raises:
        ValueError: if no device of that name is registered, listing the ones that are.
    """
    if isinstance(name, Device):
        return name
    if name is None:
        name = default_device_name()
    name = str(name).split(":")[0]
    device = _INSTANCES.get(name)
    if device is None:
        if name not in _FACTORIES:
            raise ValueError(f"unknown device {name!r}; available: {available_devices()} "
                             "(set ZILI_DEVICE or pass device=... with one of them)")
        device = _INSTANCES[name] = _FACTORIES[name]()
    return device


_DEFAULT: list[str] = []


def default_device_name() -> str:
    """The device used when none is named: ``ZILI_DEVICE`` if set, else the most preferred."""
    if not _DEFAULT:
        _DEFAULT.append(os.environ.get("ZILI_DEVICE") or available_devices()[0])
    return _DEFAULT[0]


def set_default_device(name: str) -> None:
    """Use ``name`` wherever no device is named from now on.

    Raises:
        ValueError: if no device of that name is registered.
    """
    get_device(name)
    _DEFAULT[:] = [name.split(":")[0]]
