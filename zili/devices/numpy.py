"""The reference device: every primitive in NumPy, nothing else.

It runs anywhere NumPy does and is the interpreter the other devices are tested against.
Buffers are flat NumPy arrays; inputs are read through their View without copying
(strided arrays), and only a masked (padded) view is materialised.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zili.devices.device import Capabilities, Device, Operand, check_assign, register_device
from zili.dtype import DType
from zili.ops import Op
from zili.ops.view import View

_HALF = ("float16", "bfloat16")


def read(buffer: np.ndarray, view: View) -> np.ndarray:
    """The elements ``view`` shows of the flat array ``buffer``, as a (possibly strided) array.

    For a view without a mask the result shares memory with ``buffer`` (writing to it writes
    the buffer); a masked view is materialised.
    """
    if view.contiguous:
        return buffer[view.offset:view.offset + view.numel].reshape(view.shape)
    if view.mask is not None:
        out = np.zeros(view.shape, buffer.dtype)
        if all(b < e for b, e in view.mask):
            out[tuple(slice(b, e) for b, e in view.mask)] = read(buffer, view.shrink(view.mask))
        return out
    if view.numel == 0:
        return np.zeros(view.shape, buffer.dtype)
    size = buffer.itemsize
    return np.ndarray(view.shape, buffer.dtype, buffer=buffer, offset=view.offset * size,
                      strides=tuple(s * size for s in view.strides))


def host_view(buffer: np.ndarray, view: View) -> np.ndarray | None:
    """``read`` for views that need no copy (no mask): an ndarray over ``buffer``'s memory."""
    if view.mask is not None:
        return None
    if view.numel == 0:
        return buffer[:0].reshape(view.shape)
    return read(buffer, view)


def counter_uniform(seed: int, counter: int, count: int, dtype: DType) -> np.ndarray:
    """``count`` uniform numbers in [0, 1) from a counter-based hash of (seed, counter + i).

    The hash is SplitMix64's finaliser on ``counter + i + seed * golden``: integer-only, so
    every device that implements it bit for bit produces the same numbers.
    """
    x = np.arange(count, dtype=np.uint64)
    x += np.uint64((counter + seed * 0x9E3779B97F4A7C15) % (1 << 64))
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    if dtype.name == "float64":
        return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    values = (x >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
    return values.astype(dtype.numpy)


def _floor_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        return np.floor_divide(a, b)
    return np.true_divide(a, b)


def _remainder(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Floats: C's fmod moved to the divisor's sign, a zero keeping fmod's sign (-0.0 % 1 is
    # -0.0 in PyTorch; np.mod, as Python, gives +0.0).
    if a.dtype.kind in "iub":
        return np.mod(a, b)
    r = np.fmod(a, b)
    return np.where((r != 0) & ((r < 0) != (b < 0)), r + b, r).astype(r.dtype, copy=False)


_ELEMENTWISE = {
    Op.NEG: np.negative, Op.EXP2: np.exp2, Op.LOG2: np.log2, Op.SIN: np.sin, Op.SQRT: np.sqrt,
    Op.RECIPROCAL: np.reciprocal, Op.ADD: np.add, Op.SUB: np.subtract, Op.MUL: np.multiply,
    Op.DIV: _floor_divide, Op.MAX: np.maximum, Op.MOD: _remainder, Op.CMPLT: np.less,
    Op.CMPEQ: np.equal, Op.AND: np.bitwise_and, Op.OR: np.bitwise_or, Op.XOR: np.bitwise_xor,
    Op.WHERE: np.where,
}


class HostMemory:
    """Memory of the devices whose buffers are flat host NumPy arrays (numpy, cpu): they
    share memory with NumPy both ways."""

    def alloc(self, count: int, dtype: DType) -> np.ndarray:
        """A new uninitialised flat buffer of ``count`` elements."""
        return np.empty(max(count, 0), dtype.numpy)

    def copy_in(self, buffer: np.ndarray, array: np.ndarray) -> None:
        """Copy a host array into ``buffer``."""
        buffer[:] = array

    def copy_out(self, buffer: np.ndarray, view: View, dtype: DType) -> np.ndarray:
        """Copy the elements ``view`` shows into a new C-contiguous array."""
        return np.array(read(buffer, view), copy=True, order="C")

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        """Copy a host array into a new flat buffer."""
        return np.array(array, copy=True, order="C").reshape(-1)

    def to_numpy(self, buffer: np.ndarray, view: View, dtype: DType) -> np.ndarray:
        """Copy the elements ``view`` shows into a new C-contiguous array."""
        return self.copy_out(buffer, view, dtype)

    def host_array(self, buffer: np.ndarray, view: View, dtype: DType) -> np.ndarray | None:
        """The view's elements as an ndarray sharing ``buffer``'s memory (None if padded)."""
        return host_view(buffer, view)

    def adopt_numpy(self, flat: np.ndarray) -> np.ndarray:
        """``flat`` itself: host memory is this device's memory."""
        return flat


class NumpyDevice(HostMemory, Device):
    """Host memory and NumPy for every primitive; the reference every device is tested against."""

    name = "numpy"

    def capabilities(self) -> Capabilities:
        """Every dtype, in host memory."""
        return Capabilities("interpreter", "NumPy reference interpreter (host memory)")

    def assign(self, buffer: np.ndarray, view: View, dtype: DType, value: Operand) -> None:
        """Write ``value`` into ``buffer`` through ``view`` by strided NumPy assignment
        (NumPy copies first when source and destination overlap); see :meth:`Device.assign`.
        """
        check_assign(len(buffer), view, dtype, value)
        if view.numel:
            read(buffer, view)[...] = read(value[0], value[1])

    def execute(self, op: Op, shape: tuple[int, ...], dtype: DType, inputs: list[Operand],
                arg: Any = None) -> np.ndarray:
        """Run one primitive with NumPy; see :meth:`Device.execute`."""
        arrays = [read(buffer, view) for buffer, view, _ in inputs]
        with np.errstate(all="ignore"):
            out = self._compute(op, shape, dtype, arrays, inputs, arg)
        if out.dtype != dtype.numpy:
            out = out.astype(dtype.numpy)
        return np.ascontiguousarray(out).reshape(-1)

    def _compute(self, op: Op, shape: tuple[int, ...], dtype: DType, arrays: list[np.ndarray],
                 inputs: list[Operand], arg: Any) -> np.ndarray:
        fn = _ELEMENTWISE.get(op)
        if fn is not None:
            if dtype.name in _HALF and op not in (Op.CMPLT, Op.CMPEQ, Op.WHERE):
                # ml_dtypes' bfloat16 lacks some ufunc loops; compute in float32, round once.
                return fn(*[a.astype(np.float32) for a in arrays]).astype(dtype.numpy)
            return fn(*arrays)
        if op is Op.CAST:
            return arrays[0].astype(dtype.numpy)
        if op is Op.COPY:
            return np.array(arrays[0], copy=True)
        if op is Op.SUM:
            if dtype.name == "float32":  # NumPy adds strided axes one by one: go wide
                return np.sum(arrays[0], axis=arg, keepdims=True, dtype=np.float64
                              ).astype(np.float32)
            accumulate = np.float32 if dtype.name in _HALF else None
            return np.sum(arrays[0], axis=arg, keepdims=True, dtype=accumulate)
        if op is Op.AMAX:
            return np.max(arrays[0], axis=arg, keepdims=True)
        if op is Op.MATMUL:
            a, b = arrays
            if dtype.name in _HALF:
                a, b = a.astype(np.float32), b.astype(np.float32)
            if a.ndim > 2:
                return _batched_matmul(a, b)
            return np.matmul(a, b)
        if op is Op.GATHER:
            return _gather(arrays[0], arrays[1], inputs[1][1], arg)
        if op is Op.SCATTER_ADD:
            return _scatter_add(arrays[0], arrays[1], inputs[0][1], arg, shape, dtype)
        if op is Op.RANDOM:
            seed, counter = arg
            return counter_uniform(seed, counter, int(np.prod(shape)), dtype).reshape(shape)
        raise NotImplementedError(f"numpy device: primitive {op.value} is not implemented")


def _batched_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One BLAS call per matrix of the batch.

    NumPy's stacked matmul was measured 20-50x slower than this loop on small per-head
    matrices (attention) with OpenBLAS threads: every product goes through its generic
    path, while a plain 2-D matmul per matrix hands BLAS strided operands directly.
    """
    batch = a.shape[:-2]
    left = np.ascontiguousarray(a).reshape((int(np.prod(batch)),) + a.shape[-2:])  # not -1:
    right = np.ascontiguousarray(b).reshape((len(left),) + b.shape[-2:])  # batch may be empty
    out = np.empty((left.shape[0], a.shape[-2], b.shape[-1]), np.result_type(a, b))
    for i in range(left.shape[0]):
        np.matmul(left[i], right[i], out=out[i])
    return out.reshape(batch + out.shape[-2:])


def _broadcast_index(index: np.ndarray, index_view: View, axis: int) -> np.ndarray | None:
    """The 1-D index when ``index`` only varies along ``axis`` (an embedding lookup)."""
    if all(st == 0 for d, st in enumerate(index_view.strides) if d != axis) \
            and index_view.mask is None:
        picker = tuple(slice(None) if d == axis else 0 for d in range(index.ndim))
        return index[picker]
    return None


def _check_index(index: np.ndarray, size: int, op: str, axis: int) -> None:
    """Indices must lie in [0, size): NumPy would wrap negative ones, PyTorch refuses them."""
    if index.size and (index.min() < 0 or index.max() >= size):
        bad = int(index.min() if index.min() < 0 else index.max())
        raise IndexError(f"{op}: index {bad} is out of range for axis {axis} with size {size}")


def _gather(x: np.ndarray, index: np.ndarray, index_view: View, axis: int) -> np.ndarray:
    _check_index(index, x.shape[axis], "gather", axis)
    flat = _broadcast_index(index, index_view, axis)
    if flat is not None and all(i == x.shape[d] for d, i in enumerate(index.shape) if d != axis):
        return np.take(x, flat, axis=axis)
    if any(i != s for d, (i, s) in enumerate(zip(index.shape, x.shape)) if d != axis):
        x = x[tuple(slice(0, i) if d != axis else slice(None) for d, i in enumerate(index.shape))]
    return np.take_along_axis(x, index.astype(np.intp), axis=axis)


def _scatter_add(index: np.ndarray, source: np.ndarray, index_view: View, axis: int,
                 shape: tuple[int, ...], dtype: DType) -> np.ndarray:
    _check_index(index, shape[axis], "scatter_add", axis)
    accumulate = np.float32 if dtype.name in _HALF else dtype.numpy
    out = np.zeros(shape, accumulate)
    flat = _broadcast_index(index, index_view, axis)
    moved = np.moveaxis(out, axis, 0)
    if flat is not None and all(i == shape[d] for d, i in enumerate(index.shape) if d != axis):
        np.add.at(moved, flat, np.moveaxis(source, axis, 0).astype(accumulate, copy=False))
        return out
    grid = list(np.indices(index.shape, sparse=True))
    grid[axis] = index.astype(np.intp)
    np.add.at(out, tuple(grid), source.astype(accumulate, copy=False))
    return out


register_device("numpy", NumpyDevice, priority=0)
