"""The ``cpu`` device: host memory (flat NumPy arrays), generated C built by ``cc`` (``CC``
overrides; :class:`CompiledDevice` caches it), ctypes to launch. Kernels are C functions
returning a status (0 ok, 1 index out of range, 2 out of memory): argument types and status
codes are this module's business alone. MATMUL runs zili's SGEMM (:mod:`zili.compiler.gemm`)
for float32, else NumPy's BLAS (:mod:`zili.devices.blas`; ``ZILI_CPU_MATMUL=blas``: always).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from ctypes import addressof, c_char
from pathlib import Path
from typing import Any

import numpy as np

from zili.compiler.attention import FusedAttention
from zili.compiler.gemm import Gemm
from zili.compiler.gemv_source import SKINNY_ROWS
from zili.compiler.render_c import PRELUDE, CRenderer
from zili.compiler.runtime import Launchable, Signature
from zili.devices.blas import THREADS, blas_matmul
from zili.devices.cc import FLAGS, build_jobs, build_shared, compiler_command
from zili.devices.compiled import CompiledDevice, Program
from zili.devices.cpu_launch import addresses, direct_launcher, index_error
from zili.devices.device import Capabilities, register_device
from zili.devices.numpy import HostMemory, read
from zili.ops.view import View


class CPUDevice(HostMemory, CompiledDevice):
    """Host buffers; kernels compiled from C and called through ctypes."""

    name = "cpu"
    renderer_class = CRenderer
    source_suffix, binary_suffix = ".c", ".so"
    program_per_plan = True  # a jit plan is one shared object, its units built in parallel

    def __init__(self) -> None:
        self.cc = compiler_command()
        self.build_jobs = build_jobs()
        if self.cc is None:
            raise RuntimeError("cpu device: no C compiler found (install gcc or clang, or "
                               "set CC); use device='numpy' instead")
        self._gemm: Gemm | None = None
        self.matmul_library = MATMUL  # "zili" or "blas": float32 products (see matmul)
        # Fused composites opt-in (ZILI_CPU_FUSED=1): jit records primitives; eager == jit bits.
        self.use_fused = os.environ.get("ZILI_CPU_FUSED", "0") == "1"
        self._attention: FusedAttention | None = None

    @property
    def fused_composites(self) -> dict[str, Any]:
        """Fused attention (zili.tensor.fused) when ``use_fused`` is set, else none."""
        if not self.use_fused:
            return {}
        if self._attention is None:
            self._attention = FusedAttention(self)
        return {"scaled_dot_product_attention": self._attention}

    def capabilities(self) -> Capabilities:
        """Host memory and cores; every dtype."""
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return Capabilities("cpu", f"host CPU, C compiled by {self.cc}", memory=pages,
                            compute_units=THREADS, extensions=("openmp",))

    # --- compile and launch ----------------------------------------------------------------

    def target(self) -> str:
        """The compiler and its flags."""
        return " ".join([self.cc or "", *FLAGS])

    def build(self, name: str, source_path: Path, source: str) -> bytes:
        """Compile C source to a shared object (:func:`zili.devices.cc.build_shared`).

        Raises:
            CompileError: with the compiler's message and the path of the source.
        """
        return build_shared(self.cc or "cc", name, source_path, source, PRELUDE)

    def load(self, binary_path: Path) -> Any:
        """The shared object."""
        return ctypes.CDLL(str(binary_path))

    def kernel(self, library: Any, name: str, signature: Signature) -> Any:
        """C function ``name`` with its ctypes signature."""
        fn = getattr(library, name)
        fn.library, fn.restype = library, ctypes.c_int
        fn.argtypes = [ctypes.c_void_p] * signature.buffers + [ctypes.c_longlong] * \
            signature.ints
        return fn

    def launch(self, program: Program, buffers: list[np.ndarray], ints: list[int],
               geometry: Any = None) -> bool:
        """Call the kernel on the buffers' addresses (the loops are in the kernel, so there
        is no geometry); True when it reports an index out of range.

        Raises:
            MemoryError: when the kernel could not allocate its scratch memory.
        """
        try:  # inline (jit replays launch here): ctypes' view of the memory, see cpu_launch
            status = program.handle(*[addressof(c_char.from_buffer(b)) for b in buffers], *ints)
        except (TypeError, ValueError, BufferError):  # read-only, empty, not contiguous
            status = program.handle(*addresses(buffers), *ints)
        return index_error(status, program) if status else False

    def launcher(self, launchable: Launchable) -> Callable[[list[Any], tuple[int, ...]], bool]:
        """Eager primitives call their C function directly (:mod:`.cpu_launch`)."""
        return direct_launcher(launchable)

    matmul_epilogue = ("float32", "float64")  # dtypes whose matmul takes addends (jit)

    def matmul(self, a: np.ndarray, av: View, b: np.ndarray, bv: View, out: np.ndarray,
               shape: tuple[int, ...], addends: list[tuple[np.ndarray, View]] = ()) -> None:
        """out = a @ b (+ each (buffer, view) of ``addends`` in turn, at most two): for float32
        zili's SGEMM (addends in its epilogue) when ``matmul_library`` is ``"zili"`` (the
        default), else NumPy's BLAS (:mod:`zili.devices.blas`; ``ZILI_CPU_MATMUL=blas``)."""
        # Products of at most 16 rows (a decode step) are bound by reading the weight once.
        # x @ W.T (nn.Linear) takes the SGEMM's skinny path (zili.compiler.gemv_source:
        # 1.0-1.7x OpenBLAS, one thread); x @ W with W's rows contiguous stays with BLAS,
        # whose kernel for that layout is faster than ours (0.2-0.98x).
        skinny_rows = len(shape) == 2 and shape[0] <= SKINNY_ROWS and bv.strides[-1] == 1
        if self.matmul_library == "zili" and a.dtype == b.dtype == out.dtype == np.float32 \
                and not skinny_rows:
            self._gemm = self._gemm or Gemm(self)
            (a, av), (b, bv), *extra = [(x, v) if v.mask is None else  # packing reads no masks
                                        (read(x, v).reshape(-1), View(v.shape))
                                        for x, v in ((a, av), (b, bv), *addends)]
            self._gemm(a, av, b, bv, out, shape, bias=(extra or [None])[0],
                       residual=extra[1] if len(extra) > 1 else None)
            return
        blas_matmul(a, av, b, bv, out, shape)
        for x, v in addends:
            np.add(out.reshape(shape), read(x, v), out=out.reshape(shape))


# float32 products: "zili" (the SGEMM on the kernels' OpenMP team; default: jitted GPT step
# 0.87x PyTorch vs 0.58x, idle) or "blas" (NumPy's, whose threads fight the OpenMP team).
MATMUL = os.environ.get("ZILI_CPU_MATMUL", "zili")
if MATMUL not in ("zili", "blas"):
    raise ValueError(f"ZILI_CPU_MATMUL must be 'zili' or 'blas', got {MATMUL!r}")
register_device("cpu", CPUDevice, priority=10 if compiler_command() else -1)
if compiler_command() is None:
    print("zili: no C compiler found (cc, or set CC); falling back to the numpy device",
          file=sys.stderr)
