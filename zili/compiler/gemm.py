"""zili's own matrix product for C-compiling devices: compile the SGEMM of
:mod:`zili.compiler.gemm_source` once and call it on flat buffers read through views.

The product runs on the OpenMP thread team of the process (the same one every generated
kernel uses), takes its operands through their strides (a transposed or strided view is
packed, never copied first), and can finish with an epilogue: ``alpha * A @ B``, plus a
bias, through GELU (tanh form), plus a residual, applied while the result tile is in cache.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from zili.compiler.gemm_source import GEMM_FUNCTION, GEMM_SOURCE
from zili.compiler.runtime import Signature
from zili.ops.view import View

EPI_BIAS, EPI_GELU, EPI_RESIDUAL = 1, 2, 4

_BUFFERS = 6  # out, a, b, bias, residual, and the array of the 28 integer arguments


def compile_kernel(device: Any, name: str, source: str, buffers: int, ints: int) -> Any:
    """Compile a C entry point that follows the devices' kernel convention (``buffers``
    pointers, then ``ints`` 64-bit integers; returns 0, or 2 when out of memory)."""
    return device.compile(name, source, Signature(buffers, ints, False))


def float_bits(value: float) -> int:
    """The bits of ``value`` as a float32, as a signed integer (how kernels take floats)."""
    return int(np.array(value, np.float32).view(np.int32))


class Gemm:
    """The compiled SGEMM of one device (any device with ``compile`` and ``launch`` whose
    buffers are host arrays)."""

    def __init__(self, device: Any):
        self.device = device
        self.program = compile_kernel(device, GEMM_FUNCTION, GEMM_SOURCE, _BUFFERS, 0)
        self._launches: dict[tuple, list[np.ndarray]] = {}

    @property
    def target(self) -> str:
        """Which microkernel the compiler picked: avx512, avx2-fma, neon or portable."""
        library = getattr(self.program.handle, "library", None)
        if library is None:
            return "unknown"
        fn = library.zili_sgemm_target
        fn.restype = ctypes.c_char_p
        return fn().decode()

    def __call__(self, a: np.ndarray, av: View, b: np.ndarray, bv: View, out: np.ndarray,
                 shape: tuple[int, ...], alpha: float = 1.0,
                 bias: tuple[np.ndarray, View] | None = None, gelu: bool = False,
                 residual: tuple[np.ndarray, View] | None = None) -> None:
        """``out`` (contiguous, ``shape`` = (..., M, N)) = epilogue(a @ b).

        ``av`` is (..., M, K) and ``bv`` (..., K, N) with batch axes broadcastable to
        ``shape[:-2]``; ``bias`` and ``residual`` are (buffer, view) pairs whose views have
        ``shape`` (expand them). The epilogue is ``gelu?(alpha * a @ b + bias) + residual``.

        Raises:
            TypeError: if a buffer is not float32.
            ValueError: if the views do not fit ``shape``.
            MemoryError: if the packing buffers could not be allocated.
        """
        buffers = [out, a, b, bias[0] if bias else out, residual[0] if residual else out]
        for buffer in buffers:
            if buffer.dtype != np.float32:
                raise TypeError(f"gemm: float32 buffers only, got {buffer.dtype} for a product "
                                f"of shape {shape}; use the BLAS path for other dtypes")
        # The integer arguments depend on the views alone: a decode step repeats the same
        # few products, and working them out costs more than a small product itself.
        key = (av, bv, shape, alpha, gelu, bias and bias[1], residual and residual[1])
        launches = self._launches.get(key)
        if launches is None:
            if len(self._launches) >= 512:
                self._launches.clear()
            launches = self._launches[key] = self._arguments(
                av, bv, shape, alpha, bias and bias[1], gelu, residual and residual[1])
        for ints in launches:
            if self.device.launch(self.program, [*buffers, ints], []):
                raise MemoryError(f"gemm: could not allocate packing buffers for {shape}")

    @staticmethod
    def _arguments(av: View, bv: View, shape: tuple[int, ...], alpha: float,
                   bias: View | None, gelu: bool, residual: View | None) -> list[np.ndarray]:
        """The integer arguments of each launch (one per index of batch axes that the
        kernel's two batch strides cannot walk), each as an int64 array.

        Raises:
            ValueError: if the views do not fit ``shape``.
        """
        if len(shape) < 2 or len(av.shape) < 2 or len(bv.shape) < 2:
            raise ValueError(f"gemm: needs 2-D or batched operands, got {av.shape} @ {bv.shape} "
                             f"-> {shape}")
        m, n = shape[-2:]
        k = av.shape[-1]
        if av.shape[-2] != m or bv.shape[-2:] != (k, n):
            raise ValueError(f"gemm: shapes {av.shape} @ {bv.shape} do not give {shape}")
        # The kernel's view slots: out, a, b, bias, residual (absent ones get out's).
        views = [View(shape), av, bv, bias or View(shape), residual or View(shape)]
        for view in views[3:]:
            if view.shape != shape:
                raise ValueError(f"gemm: epilogue operand of shape {view.shape} must have the "
                                 f"output's shape {shape} (expand it)")
        batch = shape[:-2]
        parts = [_operand(view, batch) for view in views]
        flags = (EPI_BIAS if bias is not None else 0) | (EPI_GELU if gelu else 0) | \
            (EPI_RESIDUAL if residual is not None else 0)
        dims = collapse_batch(batch, [strides for _, strides, _ in parts])
        while len(dims) < 2:
            dims.insert(0, (1, [0] * len(parts)))
        lead, (outer, inner) = dims[:-2], dims[-2:]
        strides = [[outer[1][d], inner[1][d], *parts[d][2]] for d in range(len(parts))]
        launches = []
        for index in np.ndindex(*[size for size, _ in lead]):
            offsets = [offset + sum(i * s[d] for i, (_, s) in zip(index, lead))
                       for d, (offset, _, _) in enumerate(parts)]
            launches.append(np.array(offsets + [
                outer[0] * inner[0], inner[0], m, n, k, *strides[1], *strides[2],
                float_bits(alpha), flags, *strides[3], *strides[4]], np.int64))
        return launches


def _operand(view: View, batch: tuple[int, ...]) -> tuple[int, list[int], tuple[int, int]]:
    """(offset of element 0, strides over the batch axes, (row, column) strides).

    Raises:
        ValueError: for a masked (padded) view: packing reads buffers without masks, so the
            caller materialises it first.
    """
    if view.mask is not None:
        raise ValueError(f"gemm: masked (padded) operand views are not read directly, got "
                         f"{view}; copy it to a contiguous buffer first")
    strides = list(view.strides)
    lead = [0] * (len(batch) - (len(strides) - 2)) + strides[:-2]
    lead = [s if size != 1 else 0 for s, size in zip(lead, batch)]
    return view.offset, lead, (strides[-2], strides[-1])


def collapse_batch(batch: tuple[int, ...],
                   strides: list[list[int]]) -> list[tuple[int, list[int]]]:
    """Batch axes as (size, stride of each operand), size-1 axes dropped and neighbours
    merged where every operand walks them as one axis."""
    dims: list[tuple[int, list[int]]] = []
    for axis, size in enumerate(batch):
        if size == 1:
            continue
        column = [s[axis] for s in strides]
        if dims and all(prev == cur * size for prev, cur in zip(dims[-1][1], column)):
            dims[-1] = (dims[-1][0] * size, column)
        else:
            dims.append((size, column))
    return dims
