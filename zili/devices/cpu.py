"""The ``cpu`` device: host memory, the system C compiler, ctypes to launch.

Buffers are flat NumPy arrays (host memory NumPy allocated, aligned). ``compile`` turns C
source into a loaded function with ``cc`` (``CC`` overrides) and ``-O3 -march=native
-fopenmp``, caching the shared object on disk under a hash of source and flags in the
guarded kernel cache (:mod:`zili.devices.kernel_cache`: ``ZILI_CACHE_DIR``, default
``~/.cache/zili``). ``launch`` calls it with buffer addresses and integer parameters.
Matrix products use NumPy's BLAS on the host buffers. Which kernels to run is the
compiler's business (``zili.compiler.runtime`` gives this device its ``execute``); this
module knows nothing about the IR.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from zili.compiler.attention import FusedAttention
from zili.compiler.gemm import Gemm
from zili.devices.device import Device
from zili.devices.kernel_cache import kernel_cache
from zili.devices.numpy import host_view, read
from zili.dtype import DType
from zili.ops.view import View

FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-fwrapv", "-std=gnu11",
         "-fno-math-errno", "-ffp-contract=off"]  # no FMA: fused kernels round as eager ones


def compiler_command() -> str | None:
    """The C compiler to use (``CC`` or ``cc``), or None when none is on the PATH."""
    cc = os.environ.get("CC", "cc")
    return cc if shutil.which(cc.split()[0]) else None


class CompileError(RuntimeError):
    """The C compiler rejected a generated kernel; the message names the source file."""


class Program:
    """A compiled kernel: the ctypes function and how many buffer / integer arguments it
    takes."""

    __slots__ = ("name", "fn", "path", "library")

    def __init__(self, name: str, fn: Any, path: Path, library: Any):
        self.name, self.fn, self.path, self.library = name, fn, path, library


class CPUDevice(Device):
    """Host buffers; kernels compiled from C and called through ctypes."""

    name = "cpu"

    def __init__(self) -> None:
        self.cc = compiler_command()
        if self.cc is None:
            raise RuntimeError("cpu device: no C compiler found (install gcc or clang, or "
                               "set CC); use device='numpy' instead")
        self._loaded: dict[str, Program] = {}
        self._gemm: Gemm | None = None
        self.matmul_library = MATMUL  # "zili" or "blas": float32 products (see matmul)
        # Fused composites are opt-in (ZILI_CPU_FUSED=1 or use_fused = True): zili.jit
        # records primitives, so a jitted step runs the composite, and eager and jitted
        # steps must give the same bits (exact resume across modes).
        self.use_fused = os.environ.get("ZILI_CPU_FUSED", "0") == "1"
        self._attention: FusedAttention | None = None

    @property
    def fused_composites(self) -> dict[str, Any]:
        """Fused replacements of composites (zili.tensor.fused) when ``use_fused`` is set:
        attention, compiled on first use; empty otherwise (the composites run)."""
        if not self.use_fused:
            return {}
        if self._attention is None:
            self._attention = FusedAttention(self)
        return {"scaled_dot_product_attention": self._attention}

    # --- memory ----------------------------------------------------------------------------

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        """Copy a host array into a new flat buffer."""
        return np.array(array, copy=True, order="C").reshape(-1)

    def to_numpy(self, buffer: np.ndarray, view: View, dtype: DType) -> np.ndarray:
        """Copy the elements ``view`` shows into a new C-contiguous array."""
        return np.array(read(buffer, view), copy=True, order="C")

    def host_array(self, buffer: np.ndarray, view: View, dtype: DType) -> np.ndarray | None:
        """The view's elements as an ndarray sharing ``buffer``'s memory (None if padded)."""
        return host_view(buffer, view)

    def adopt_numpy(self, flat: np.ndarray) -> np.ndarray:
        """``flat`` itself: the cpu device's buffers are host NumPy arrays."""
        return flat

    def alloc(self, count: int, dtype: DType) -> np.ndarray:
        """A new uninitialised flat buffer of ``count`` elements."""
        return np.empty(max(count, 0), dtype.numpy)

    # --- compile and launch ----------------------------------------------------------------

    def compile(self, name: str, source: str, argtypes: list[Any]) -> Program:
        """Compile ``source`` (defining C function ``name``) and load it.

        The shared object is cached on disk by a hash of the source and the flags, in the
        guarded :mod:`zili.devices.kernel_cache` (private folder, digest checked before
        loading), and in memory by the same hash, so a kernel is compiled once per machine.

        Raises:
            CompileError: with the compiler's message and the path of the generated source.
            OSError: "No space left on device" when the cache's disk is full.
        """
        digest = hashlib.sha256("\0".join([self.cc or "", *FLAGS, source]).encode()).hexdigest()
        key = digest[:32]
        program = self._loaded.get(key)
        if program is not None:
            return program
        cache = kernel_cache(self.name)

        def build() -> bytes:
            src = cache.write_source(f"{name}_{key}.c", source)
            with tempfile.TemporaryDirectory(prefix="zili-cc-") as scratch:
                out = os.path.join(scratch, f"{name}.so")
                cmd = [*(self.cc or "cc").split(), *FLAGS, "-o", out, str(src), "-lm"]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0 or not os.path.isfile(out):
                    raise CompileError(f"cpu device: compiling kernel {name} failed "
                                       f"(source: {src}; command: {' '.join(cmd)}):\n"
                                       f"{done.stderr[-4000:]}")
                return Path(out).read_bytes()

        lib = cache.directory / f"{name}_{key}.so"
        library = cache.load(lib.name, build, lambda path: ctypes.CDLL(str(path)))
        fn = getattr(library, name)
        fn.restype = ctypes.c_int
        fn.argtypes = argtypes
        program = self._loaded[key] = Program(name, fn, lib, library)
        return program

    def launch(self, program: Program, buffers: list[np.ndarray], ints: list[int]) -> int:
        """Run ``program`` on the buffers (by address) and integer arguments; returns the
        kernel's status (0 ok, 1 index out of range)."""
        return program.fn(*[b.ctypes.data for b in buffers], *ints)

    def matmul(self, a: np.ndarray, av: View, b: np.ndarray, bv: View,
               out: np.ndarray, shape: tuple[int, ...]) -> None:
        """out = a @ b with NumPy's BLAS (half types computed in float32), or for float32
        with zili's generated SGEMM when ``ZILI_CPU_MATMUL=zili`` / ``matmul_library =
        "zili"``."""
        if self.matmul_library == "zili" and a.dtype == b.dtype == out.dtype == np.float32:
            if self._gemm is None:
                self._gemm = Gemm(self)
            a, av = (a, av) if av.mask is None else (read(a, av).reshape(-1), View(av.shape))
            b, bv = (b, bv) if bv.mask is None else (read(b, bv).reshape(-1), View(bv.shape))
            self._gemm(a, av, b, bv, out, shape)
            return
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
            _parallel(part, [indices[k::_THREADS] for k in range(_THREADS)],
                      out.size * x.shape[-1])
        elif out.size:
            x, y, result = np.atleast_2d(x), y, out.reshape(shape)
            if len(shape) < 2 or len(shape) == 2 and shape[0] < 2 * _THREADS:
                np.matmul(read(a, av), y, out=out.reshape(shape))
                return
            rows = np.array_split(np.arange(shape[0]), _THREADS)
            _parallel(lambda r: np.matmul(x[r[0]:r[-1] + 1], y, out=result[r[0]:r[-1] + 1]),
                      [r for r in rows if len(r)], out.size * x.shape[-1])


# Which matrix product float32 uses: "blas" (NumPy's, split over zili's threads) or "zili"
# (the generated SGEMM on the kernels' OpenMP team). BLAS stays the default: in the GPT
# step (bench/train_gpt.py, +blas rows) it was measured faster on the shared machine.
MATMUL = os.environ.get("ZILI_CPU_MATMUL", "blas")
if MATMUL not in ("zili", "blas"):
    raise ValueError(f"ZILI_CPU_MATMUL must be 'zili' or 'blas', got {MATMUL!r}")

# BLAS runs single-threaded and zili splits products over its own threads: OpenBLAS's
# spinning thread team and the OpenMP team of the generated kernels fought over the cores
# (on 2 shared cores the GPT step was 3x slower with both teams than with this split).
_THREADS = max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else (os.cpu_count() or 1), 8))
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
    if _THREADS == 1 or len(parts) < 2 or flops < (1 << 20):
        for p in parts:
            fn(p)
        return
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor
        _single_threaded_blas()
        _POOL = ThreadPoolExecutor(_THREADS, thread_name_prefix="zili-blas")
    for future in [_POOL.submit(fn, p) for p in parts]:
        future.result()


