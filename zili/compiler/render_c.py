"""The C dialect: kernels as C99 functions, kept axes as OpenMP-parallel loops.

Each kernel is ``int name(T0* restrict b0, ..., long long rnd0, ..., long long p0, ...)``
returning 0, or 1 when an index was out of range (gather, scatter_add). Half types are
stored as ``_Float16`` and as the raw bits of bfloat16 and computed in float, rounded after
every operation so results match the NumPy device.
"""

from __future__ import annotations

from zili.compiler.ir import Kernel, Stage
from zili.compiler.math_c import FLOAT_MATH
from zili.compiler.math_c import PRELUDE as MATH_PRELUDE
from zili.compiler.reduce_c import PARALLEL_THRESHOLD, path_of, render_reduction
from zili.compiler.reduce_c import PRELUDE as REDUCE_PRELUDE
from zili.compiler.renderer import CLikeRenderer
from zili.compiler.scatter_c import render_scatter
from zili.compiler.scratch_c import RowScratch
from zili.dtype import DType

PRELUDE = r"""#include <math.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
static inline float bf2f(unsigned short b) { unsigned int u = (unsigned int)b << 16;
  float f; memcpy(&f, &u, 4); return f; }
static inline unsigned short f2bf(float f) { unsigned int u; memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u); return (unsigned short)(u >> 16); }
static inline long long zili_floordiv(long long a, long long b) { if (b == 0) return 0;
  if (b == -1) return (long long)(0ULL - (unsigned long long)a); /* LLONG_MIN/-1 traps */
  long long q = a / b; if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1; return q; }
static inline long long zili_imod(long long a, long long b) { if (b == 0 || b == -1) return 0;
  long long r = a % b; if (r != 0 && ((r < 0) != (b < 0))) r += b; return r; }
static inline double zili_fmod(double a, double b) { double r = fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b; return r; }  /* a zero keeps fmod's sign */
""" + MATH_PRELUDE + REDUCE_PRELUDE

_STORAGE = {"bool": "unsigned char", "uint8": "unsigned char", "int8": "signed char",
            "int16": "short", "uint16": "unsigned short", "int32": "int",
            "uint32": "unsigned int", "int64": "long long", "uint64": "unsigned long long",
            "float16": "_Float16", "bfloat16": "unsigned short", "float32": "float",
            "float64": "double"}


class CRenderer(RowScratch, CLikeRenderer):
    """C99 with GCC/Clang extensions (``_Float16``, ``restrict``, OpenMP pragmas)."""

    prelude = PRELUDE
    float_math = FLOAT_MATH  # vectorizable exp2/log2 (zili.compiler.math_c)

    def storage_type(self, dtype: DType) -> str:
        """The C element type of a buffer."""
        return _STORAGE[dtype.name]

    def compute_type(self, dtype: DType) -> str:
        """float for the half types, else the storage type."""
        return "float" if dtype.name in ("float16", "bfloat16") else _STORAGE[dtype.name]

    def load_value(self, dtype: DType, text: str) -> str:
        """Widen half types on load."""
        if dtype.name == "bfloat16":
            return f"bf2f({text})"
        return f"(float){text}" if dtype.name == "float16" else text

    def store_value(self, dtype: DType, text: str) -> str:
        """Narrow half types on store."""
        if dtype.name == "bfloat16":
            return f"f2bf({text})"
        return f"(_Float16)({text})" if dtype.name == "float16" else text

    def round_half(self, dtype: DType, text: str) -> str:
        """Round a float to float16/bfloat16 precision and back."""
        if dtype.name == "bfloat16":
            return f"bf2f(f2bf({text}))"
        return f"(float)(_Float16)({text})" if dtype.name == "float16" else text

    def function(self, kernel: Kernel, body: list[str]) -> str:
        """``int name(buffers..., random bases..., parameters...) { body; return err; }``."""
        written = {s.out for s in kernel.stages}
        args = [f"{'' if i in written else 'const '}{self.storage_type(d)}* restrict b{i}"
                for i, d in enumerate(kernel.buffers)]
        args += [f"long long rnd{k}" for k in range(kernel.random_params)]
        args += [f"long long {name}" for name in self.param_names]
        lines = [f"int {kernel.name}({', '.join(args)}) {{", "int err = 0;", *body,
                 "return err;", "}"]
        return PRELUDE + "\n".join(_indent(lines)) + "\n"

    def _total(self, kernel: Kernel, axes: list[int]) -> str:
        return "*".join(f"(long long){self.size(d)}" for d in axes) or "1"

    def loops(self, kernel: Kernel, body: list[str]) -> list[str]:
        """Kept axes as perfectly nested loops, OpenMP-parallel above the threshold."""
        kept = [d for d in range(len(kernel.shape)) if d not in kernel.reduce_axes]
        out = body
        for d in reversed(kept):
            out = [f"for (long long i{d} = 0; i{d} < {self.size(d)}; i{d}++) {{", *out, "}"]
        if kept and self._parallel(kernel, list(range(len(kernel.shape)))):
            # simd: GCC loses restrict when OpenMP outlines the loop, and with many buffers
            # gives up on the aliasing checks (a flat GELU kernel ran scalar); the buffers
            # are restrict, so iterations are independent. Not over several axes (vector
            # index division) nor where a flag or an accumulator is written.
            simd = " simd" if len(kept) == 1 and not kernel.reduce_axes and \
                not kernel.checks_indices else ""
            # The innermost axis stays out of the collapse: a collapsed loop rebuilds every
            # index from the flat counter at each step, so its body never vectorizes (an
            # im2col copy of conv2d's, (256, 3, 3, 32, 14, 14), ran at 2.7 ns per element).
            collapse = max(1, len(kept) - 1)
            pragma = f"#pragma omp parallel for{simd} collapse({collapse})"
            if self.dynamic:
                pragma += f" if({self._total(kernel, list(range(len(kernel.shape))))} >= " \
                          f"{PARALLEL_THRESHOLD})"
            out = [pragma, *out]
        return out

    def inner_loops(self, kernel: Kernel, body: list[str], stage: Stage) -> list[str]:
        """Reduce axes as plain nested loops (the elementwise stages after a reduction)."""
        for d in reversed(kernel.reduce_axes):
            body = [f"for (long long i{d} = 0; i{d} < {self.size(d)}; i{d}++) {{", *body, "}"]
        return body

    def note(self, kernel: Kernel) -> str:
        """A reduction's loop shape (``rows`` or ``columns``, :mod:`reduce_c`)."""
        return f" ({path_of(kernel)} path)" if path_of(kernel) else ""

    def render(self, kernel: Kernel) -> tuple[str, list[int]]:
        """Reductions through :mod:`zili.compiler.reduce_c`'s loops, the rest as the base."""
        if kernel.reduce_axes and not kernel.special:
            return render_reduction(self, kernel)
        return super().render(kernel)

    def render_scatter(self, kernel: Kernel) -> str:
        """SCATTER_ADD in independent blocks (:mod:`zili.compiler.scatter_c`)."""
        return render_scatter(self, kernel)

    def _parallel(self, kernel: Kernel, axes: list[int]) -> bool:
        if self.dynamic:
            return True
        total = 1
        for d in axes:
            total *= kernel.shape[d]
        return total >= PARALLEL_THRESHOLD


def _indent(lines: list[str]) -> list[str]:
    out, depth = [], 0
    for line in lines:
        if line.startswith("}"):
            depth -= 1
        out.append("  " * max(depth, 0) + line)
        if line.endswith("{"):
            depth += 1
    return out
