"""MATMUL through NumPy's BLAS on host buffers: the cpu device's vendor library.

The compiler lowers MATMUL to a kernel of its own, so no device needs this; the cpu device
uses it because BLAS is faster than its generated loops. Products are split over zili's own
threads with BLAS kept single-threaded (see :data:`THREADS`).
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from zili.devices.numpy import read
from zili.ops.view import View


def blas_matmul(a: np.ndarray, av: View, b: np.ndarray, bv: View,
                out: np.ndarray, shape: tuple[int, ...]) -> None:
    """out = a @ b with NumPy's BLAS (half types computed in float32)."""
    x, y = read(a, av), read(b, bv)
    if out.dtype.itemsize == 2:
        out[:] = np.matmul(x.astype(np.float32), y.astype(np.float32)).reshape(-1)
    elif out.size and len(shape) > 2:
        # One BLAS call per matrix: NumPy's stacked matmul takes a generic slow path on
        # strided per-head views (attention), measured 20-50x slower than this loop.
        x = np.broadcast_to(x, shape[:-2] + x.shape[-2:])
        y = np.broadcast_to(y, shape[:-2] + y.shape[-2:])
        result = out.reshape(shape)
        indices = list(np.ndindex(*shape[:-2]))

        def part(chunk: list) -> None:
            for index in chunk:
                np.matmul(x[index], y[index], out=result[index])
        _parallel(part, [indices[k::THREADS] for k in range(THREADS)],
                  out.size * x.shape[-1])
    elif out.size:
        x, y, result = np.atleast_2d(x), y, out.reshape(shape)
        if len(shape) < 2:
            np.matmul(read(a, av), y, out=out.reshape(shape))
            return
        if THREADS == 1 or out.size * x.shape[-1] < _PARALLEL_FLOPS:
            # one call, nothing to split: array_split's index lists cost more than a small
            # product (eager MLPs on small tensors)
            np.matmul(x, y, out=result)
            return
        if shape[0] < 2 * THREADS:
            # Few rows (a decode step's products): split the columns instead, so that every
            # thread streams its own part of the weight (the product is bound by reading it).
            cols = [c for c in np.array_split(np.arange(shape[1]), THREADS) if len(c)]

            def columns(c: np.ndarray) -> None:
                result[:, c[0]:c[-1] + 1] = x @ y[:, c[0]:c[-1] + 1]
            _parallel(columns, cols, out.size * x.shape[-1])
            return
        rows = np.array_split(np.arange(shape[0]), THREADS)
        _parallel(lambda r: np.matmul(x[r[0]:r[-1] + 1], y, out=result[r[0]:r[-1] + 1]),
                  [r for r in rows if len(r)], out.size * x.shape[-1])


# BLAS runs single-threaded and zili splits products over its own threads: OpenBLAS's
# spinning thread team and the OpenMP team of the generated kernels fought over the cores
# (on 2 shared cores the GPT step was 3x slower with both teams than with this split).
# OMP_NUM_THREADS caps this pool as it caps the kernels' OpenMP team: one setting gives a
# process its thread count (data-parallel ranks run with 1; uncapped, a "one thread" rank
# used 1.3-1.4 cores for its products, which made 2 ranks on 2 cores look like 1.35x).
def _thread_count() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else (os.cpu_count() or 1)
    asked = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return max(1, min(cores, 8, int(asked) if asked.isdigit() and int(asked) > 0 else cores))


THREADS = _thread_count()
_PARALLEL_FLOPS = 1 << 20  # smaller products run on the calling thread alone
_POOL: Any = None


def _single_threaded_blas() -> None:
    """Ask the OpenBLAS NumPy loaded for one thread (no-op for other BLAS libraries)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return
    for path in sorted({line.split()[-1] for line in maps.splitlines()
                        if "openblas" in line.lower() and line.split()[-1].startswith("/")}):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_",
                     "openblas_set_num_threads64_", "scipy_openblas_set_num_threads"):
            fn = getattr(library, name, None)
            if fn is not None:
                fn(1)
                break


def _parallel(fn: Any, parts: list, flops: int) -> None:
    """Run ``fn`` on every part, on the pool's threads when the work is large enough (NumPy
    releases the GIL inside BLAS)."""
    global _POOL
    if THREADS == 1 or len(parts) < 2 or flops < _PARALLEL_FLOPS:
        for p in parts:
            fn(p)
        return
    if _POOL is None:
        _single_threaded_blas()
        _POOL = ThreadPoolExecutor(THREADS, thread_name_prefix="zili-blas")
    for future in [_POOL.submit(fn, p) for p in parts]:
        future.result()
