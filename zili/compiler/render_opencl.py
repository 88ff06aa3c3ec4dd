"""The OpenCL C dialect of the work-group renderer: type names, half and bfloat16 storage,
and helper functions. Everything else is :class:`~zili.compiler.render_gpu.GroupRenderer`.

float16 is stored as ``half`` and read and written with ``vload_half``/``vstore_half_rte``
(core OpenCL, so it needs no ``cl_khr_fp16``); bfloat16 is stored as the ``ushort`` bits.
Both are computed in float and rounded after every operation, as on the other devices.
Vectors: ``vloadN``/``vstoreN`` (``vload_halfN``). Without fp64 no ``double`` appears.
"""

from __future__ import annotations

from zili.compiler.render_gpu import GroupRenderer
from zili.dtype import DType

FP64 = r"""#pragma OPENCL EXTENSION cl_khr_fp64 : enable
double zili_fmod(double a, double b) { double r = fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b; return r; }  /* a zero keeps fmod's sign */
"""
PRELUDE = r"""float zili_fmodf(float a, float b) { float r = fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b; return r; }
float bf2f(ushort b) { return as_float((uint)b << 16); }
ushort f2bf(float f) { uint u = as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (ushort)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u); return (ushort)(u >> 16); }
float zili_rh(float x) { ushort h; vstore_half_rte(x, 0, (__private half*)&h);
  return vload_half(0, (__private half*)&h); }
long zili_floordiv(long a, long b) { if (b == 0) return 0;
  if (b == -1) return (long)(0UL - (ulong)a); /* LONG_MIN / -1 overflows */
  long q = a / b; if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1; return q; }
long zili_imod(long a, long b) { if (b == 0 || b == -1) return 0;
  long r = a % b; if (r != 0 && ((r < 0) != (b < 0))) r += b; return r; }
"""

_STORAGE = {"bool": "uchar", "uint8": "uchar", "int8": "char", "int16": "short",
            "uint16": "ushort", "int32": "int", "uint32": "uint", "int64": "long",
            "uint64": "ulong", "float16": "half", "bfloat16": "ushort", "float32": "float",
            "float64": "double"}


class OpenCLRenderer(GroupRenderer):
    """OpenCL C 1.2."""

    prelude, fp64_prelude = PRELUDE, FP64
    float_suffix = False  # math functions are overloaded
    i64, u64, i64_suffix, u64_suffix, i64_min = "long", "ulong", "L", "UL", "LONG_MIN"

    def storage_type(self, dtype: DType) -> str:
        """The OpenCL element type of a buffer."""
        return _STORAGE[dtype.name]

    def compute_type(self, dtype: DType) -> str:
        """float for the half types, else the storage type."""
        return "float" if dtype.name in ("float16", "bfloat16") else _STORAGE[dtype.name]

    def load(self, dtype: DType, buf: int, index: str) -> str:
        """Element ``index`` of buffer ``buf``, half types widened to float."""
        if dtype.name == "float16":
            return f"vload_half({index}, b{buf})"
        return f"bf2f(b{buf}[{index}])" if dtype.name == "bfloat16" else f"b{buf}[{index}]"

    def store(self, dtype: DType, buf: int, index: str, value: str) -> str:
        """Store a compute value, half types rounded to nearest even."""
        if dtype.name == "float16":
            return f"vstore_half_rte({value}, {index}, b{buf});"
        if dtype.name == "bfloat16":
            return f"b{buf}[{index}] = f2bf({value});"
        return f"b{buf}[{index}] = {value};"

    def vload(self, dtype: DType, buf: int, index: str, width: int,
              stride: str | None = None) -> tuple[list[str], list[str]]:
        """``vloadN``/``vload_halfN`` at ``index`` (one element, broadcast, where stride is 0)."""
        v, half = f"w{self._fresh()}", dtype.name == "float16"
        t, fn = ("float", "vload_half") if half else (self.storage_type(dtype), "vload")
        load = f"{fn}{width}(0, b{buf} + ({index}))"
        one = f"vload_half({index}, b{buf})" if half else f"b{buf}[{index}]"
        load = f"{stride} == 1 ? {load} : ({t}{width})({one})" if stride else load
        return [f"{t}{width} {v} = {load};"], [
            f"bf2f({v}.s{k})" if dtype.name == "bfloat16" else f"{v}.s{k}" for k in range(width)]

    def vstore(self, dtype: DType, buf: int, index: str, values: list[str]) -> str:
        """``vstoreN`` (``vstore_halfN_rte``) of the lanes at ``index``."""
        n, at, t = len(values), f"0, b{buf} + ({index})", self.storage_type(dtype)
        if dtype.name == "float16":
            return f"vstore_half{n}_rte((float{n})({', '.join(values)}), {at});"
        lanes = [f"f2bf({v})" for v in values] if dtype.name == "bfloat16" else values
        return f"vstore{n}(({t}{n})({', '.join(lanes)}), {at});"

    def round_half(self, dtype: DType, text: str) -> str:
        """Round a float to float16/bfloat16 precision and back."""
        if dtype.name == "bfloat16":
            return f"bf2f(f2bf({text}))"
        return f"zili_rh({text})" if dtype.name == "float16" else text
