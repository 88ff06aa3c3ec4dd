"""Factory functions (``tensor``, ``zeros``, ``randn`` ...) and the counter-based generator.

The generator is a (seed, counter) pair: every random tensor takes the next ``numel``
counters, and the device's RANDOM primitive hashes them, so the same seed gives the same
numbers on every device and a checkpoint restores the stream exactly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from zili import dtype as dtypes
from zili.devices import get_device
from zili.dtype import DType
from zili.errors import ArgumentError
from zili.ops import Op
from zili.ops.view import View
from zili.tensor.tensor import Tensor, execute


class Generator:
    """A counter-based random stream: ``seed`` picks the stream, ``counter`` the position."""

    def __init__(self, seed: int = 0):
        self.seed, self.counter = seed, 0

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream at ``seed``."""
        self.seed, self.counter = int(seed) % (1 << 64), 0
        return self

    def get_state(self) -> dict[str, int]:
        """The position, as JSON-friendly ints (for checkpoints)."""
        return {"seed": self.seed, "counter": self.counter}

    def set_state(self, state: dict[str, int]) -> None:
        """Return to a position saved by :meth:`get_state`."""
        self.seed, self.counter = int(state["seed"]), int(state["counter"])

    def take(self, count: int) -> tuple[int, int]:
        """Reserve ``count`` counters; returns (seed, first counter)."""
        start = self.counter
        self.counter += count
        return self.seed, start


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator, as ``torch.manual_seed``."""
    return default_generator.manual_seed(seed)


def get_rng_state() -> dict[str, int]:
    """The default generator's state."""
    return default_generator.get_state()


def set_rng_state(state: dict[str, int]) -> None:
    """Restore the default generator's state."""
    default_generator.set_state(state)


def _shape(size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = tuple(int(s) for s in size)
    if any(s < 0 for s in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    return shape


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data: Any, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, scalars, NumPy arrays, Tensors).

    Python floats become float32 and ints int64, as in PyTorch; NumPy arrays keep their dtype.

    Raises:
        TypeError: for data of an unsupported type or dtype.
    """
    if isinstance(data, Tensor):
        out = data.detach().to(device=device or data.device)
        if dtype is not None:
            out = out.to(dtypes.to_dtype(dtype))
        return _finish(out if out is not data else data.detach(), requires_grad)
    if isinstance(data, np.ndarray):
        array = data
        target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.to_dtype(array.dtype)
    else:
        array = np.asarray(data)
        target = dtypes.to_dtype(dtype) if dtype is not None else None
        if target is not None and target.category == 1 and array.dtype.kind in "fO":
            # NumPy reads [1, 2**64 - 1] as float64 and [2**64] as objects
            array = _exact_integers(data, array, target)
        if array.dtype == object:
            raise TypeError(f"tensor: could not convert {type(data).__name__} to a tensor "
                            "(ragged nested lists or non-numbers?)")
        if target is not None:
            if target.category == 1 and array.dtype.kind in "iu" and array.size:
                # Python ints out of the type's range raise, as in PyTorch; the rest wrap
                for value in (int(array.min()), int(array.max())):
                    dtypes.check_int_range(value, target, "tensor")
        elif array.dtype.kind == "f":
            target = dtypes.default_float
        elif array.dtype.kind in "iu":
            target = dtypes.int64
        else:
            target = dtypes.to_dtype(array.dtype)
    # np.ascontiguousarray would turn a 0-d array into shape (1,); np.array keeps 0-d.
    array = np.array(array, dtype=target.numpy, order="C")
    dev = get_device(device)
    out = Tensor._make(dev.from_numpy(array), View(array.shape), target, dev)
    return _finish(out, requires_grad)


def _exact_integers(data: Any, array: np.ndarray, target: dtypes.DType) -> np.ndarray:
    """``data`` as exact 64-bit integers when it holds only Python ints, else ``array``.

    Raises:
        DTypeError: for a value ``target`` cannot hold (as PyTorch's overflow check).
    """
    try:
        exact = np.array(data, dtype=object)
    except ValueError:  # ragged
        return array
    if not exact.size or not all(isinstance(v, int) and not isinstance(v, bool)
                                 for v in exact.flat):
        return array
    for value in (min(exact.flat), max(exact.flat)):
        dtypes.check_int_range(value, target, "tensor")
    return exact.astype(np.int64 if min(exact.flat) < 0 else np.uint64)


def from_numpy(array: np.ndarray, device: Any = None) -> Tensor:
    """A tensor over ``array``'s own memory, as ``torch.from_numpy``: writes to either are
    seen by the other (on a host device; other devices get a copy). Strided arrays are
    shared through a strided view. A read-only array is copied, with a warning.

    Raises:
        TypeError: if ``array`` is not an ndarray or its dtype is not supported.
        ValueError: if a stride is negative or not a multiple of the element size.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected an np.ndarray, got {type(array).__name__}")
    target = dtypes.to_dtype(array.dtype)
    dev = get_device(device)
    size = array.itemsize
    if any(st < 0 for st in array.strides):
        raise ValueError(f"from_numpy: strides {array.strides} of the given array are "
                         "negative; zili, like PyTorch, cannot share them: pass a copy "
                         "(array.copy())")
    if any(st % size for st in array.strides) or not array.dtype.isnative:
        raise ValueError(f"from_numpy: strides {array.strides} are not multiples of the "
                         f"element size {size} (or the byte order is not native); pass "
                         "array.copy()")
    if not array.flags.writeable:
        warnings.warn("zili.from_numpy: the array is read-only; copying it instead of "
                      "sharing its memory", stacklevel=2)
        return tensor(array, device=dev)
    if array.flags.c_contiguous:
        flat, view = array.reshape(-1), View(array.shape)
    else:
        strides = tuple(st // size for st in array.strides)
        span = 1 + sum((s - 1) * st for s, st in zip(array.shape, strides)) if array.size else 0
        flat = np.lib.stride_tricks.as_strided(array, shape=(span,), strides=(size,))
        view = View(array.shape, strides, 0)
    buffer = dev.adopt_numpy(flat)
    if buffer is None:
        return tensor(array, device=dev)
    return Tensor._make(buffer, view, target, dev)


def full(size: Sequence[int] | int, fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``, in its own memory (so it can be
    written in place)."""
    shape = _shape(size if isinstance(size, (tuple, list)) else (size,))
    target = dtypes.to_dtype(dtype) if dtype is not None else \
        dtypes.python_scalar_dtype(fill_value)
    if target.category == 1 and isinstance(fill_value, (int, np.integer)) and \
            not isinstance(fill_value, bool):
        fill_value = dtypes.check_int_range(int(fill_value), target, "full")  # as PyTorch
    dev = get_device(device)
    one = Tensor._make(dev.from_numpy(np.array(fill_value, target.numpy)), View(()), target, dev)
    out = one.reshape((1,) * len(shape)).expand(shape).contiguous() if shape else one
    return _finish(out, requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` says otherwise)."""
    return full(_shape(size), 0.0, dtype=dtype or dtypes.default_float, device=device,
                requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ones (float32 unless ``dtype`` says otherwise)."""
    return full(_shape(size), 1.0, dtype=dtype or dtypes.default_float, device=device,
                requires_grad=requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """A tensor of ``size`` (zero-filled: zili never exposes uninitialised memory)."""
    return zeros(*size, dtype=dtype, device=device)


def zeros_like(x: Tensor, dtype: Any = None, device: Any = None) -> Tensor:
    """Zeros with ``x``'s shape, dtype and device."""
    return full(x.shape, 0, dtype=dtype or x.dtype, device=device or x.device)


def ones_like(x: Tensor, dtype: Any = None, device: Any = None) -> Tensor:
    """Ones with ``x``'s shape, dtype and device."""
    return full(x.shape, 1, dtype=dtype or x.dtype, device=device or x.device)


def full_like(x: Tensor, fill_value: Any, dtype: Any = None) -> Tensor:
    """``fill_value`` with ``x``'s shape, dtype and device."""
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=x.device)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None,
           device: Any = None) -> Tensor:
    """Values from ``start`` up to (not including) ``end`` by ``step``, as ``torch.arange``."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    is_float = any(isinstance(v, float) for v in (start, end, step))
    target = dtypes.to_dtype(dtype) if dtype is not None else \
        (dtypes.default_float if is_float else dtypes.int64)
    dtypes.check_supported("arange", target)
    count = max(0, math.ceil((end - start) / step))
    values = start + np.arange(count, dtype=np.float64 if is_float else np.int64) * step
    return tensor(values.astype(target.numpy), device=device)


def linspace(start: float, end: float, steps: int, dtype: Any = None,
             device: Any = None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    Raises:
        ArgumentError: for dtype bool (as PyTorch); ValueError for negative ``steps``.
    """
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.default_float
    if target is dtypes.bool_:
        raise ArgumentError("linspace: dtype bool is not supported; use a numeric dtype and "
                        "compare")
    if steps < 0:
        raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
    return tensor(np.linspace(start, end, steps).astype(target.numpy), device=device)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None) -> Tensor:
    """The identity matrix (n x m)."""
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.default_float
    return tensor(np.eye(n, m, dtype=target.numpy), device=device)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """Elements on and below the ``diagonal``-th diagonal of the last two axes; zeros above
    (``x.tril``)."""
    return x.tril(diagonal)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """Elements on and above the ``diagonal``-th diagonal of the last two axes; zeros below
    (``x.triu``)."""
    return x.triu(diagonal)


def _uniform(shape: tuple[int, ...], dtype: DType, device: Any,
             generator: Generator | None) -> Tensor:
    generator = generator or default_generator
    dev = get_device(device)
    kind = dtypes.float64 if dtype is dtypes.float64 else dtypes.float32
    out = execute(Op.RANDOM, shape, kind, (), generator.take(math.prod(shape)), device=dev)
    return out if kind is dtype else out.to(dtype)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
         generator: Generator | None = None) -> Tensor:
    """Uniform numbers in [0, 1)."""
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.default_float
    return _finish(_uniform(_shape(size), target, device, generator), requires_grad)


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          generator: Generator | None = None) -> Tensor:
    """Standard normal numbers (Box-Muller on the counter-based uniform stream)."""
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.default_float
    shape = _shape(size)
    count = math.prod(shape)
    kind = dtypes.float64 if target is dtypes.float64 else dtypes.float32
    pair = _uniform((2, count), kind, device, generator)
    radius = ((1.0 - pair[0]).log() * -2.0).sqrt()
    normal = (radius * (pair[1] * (2 * math.pi)).cos()).reshape(shape)
    return _finish(normal.to(target), requires_grad)


def randint(low: int, high: int | None = None, size: Sequence[int] = (), dtype: Any = None,
            device: Any = None, generator: Generator | None = None) -> Tensor:
    """Uniform integers in [low, high)."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: empty range [{low}, {high})")
    shape = _shape(tuple(size) if not isinstance(size, int) else (size,))
    uniform = _uniform(shape, dtypes.float64, device, generator)
    values = (uniform * (high - low)).to(dtypes.int64) + low
    return values.to(dtypes.to_dtype(dtype)) if dtype is not None else values


def rand_like(x: Tensor, dtype: Any = None) -> Tensor:
    """Uniform numbers with ``x``'s shape and device."""
    return rand(x.shape, dtype=dtype or x.dtype, device=x.device)


def randn_like(x: Tensor, dtype: Any = None) -> Tensor:
    """Normal numbers with ``x``'s shape and device."""
    return randn(x.shape, dtype=dtype or x.dtype, device=x.device)


def randperm(n: int, device: Any = None, generator: Generator | None = None) -> Tensor:
    """A random permutation of 0..n-1 (argsort of uniform keys)."""
    keys = _uniform((n,), dtypes.float64, device, generator).numpy()
    return tensor(np.argsort(keys, kind="stable").astype(np.int64), device=device)
