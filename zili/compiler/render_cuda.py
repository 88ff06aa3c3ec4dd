"""The CUDA dialect: kernels as ``extern "C" __global__`` functions over blocks and threads.

Two mappings of the kernel IR onto the GPU, chosen per kernel:

* no reduce axes (elementwise work): one thread per point of the iteration space, a
  grid-stride loop, so any launch geometry covers every point;
* reduce axes (sums, maxima, softmax, norms): one block per row of kept axes (grid-stride over
  rows), the block's threads split the row's inner iterations, and each accumulator is
  combined with warp shuffles (``__shfl_down_sync``) and ``__shared__`` memory
  (``__syncthreads``); the result reaches every thread of the block, so the row's later
  stages (softmax's store) run split over the threads too.

Every kernel takes ``(buffers..., random bases..., integer parameters..., int* zili_err)``;
``zili_err`` is set to 1 when a gather/scatter index is out of range. Half types are stored
as raw 16-bit words and computed in float (``cvt`` for float16, bit arithmetic for
bfloat16), rounded after each operation as on the other devices; no CUDA header is needed,
so NVRTC compiles the source as it is. Float sums accumulate in float (double for float64),
as GPU libraries do.
"""

from __future__ import annotations

from zili.compiler.ir import Kernel, Stage
from zili.compiler.renderer import CLikeRenderer
from zili.dtype import DType
from zili.ops import Op
from zili.ops.view import View, contiguous_strides

BLOCK = 256  # threads per block the device launches; a multiple of the warp size

PRELUDE = r"""#define INFINITY __int_as_float(0x7f800000)
#define NAN __int_as_float(0x7fffffff)
#define INT_MIN (-2147483647 - 1)
#define LLONG_MIN (-9223372036854775807LL - 1)
__device__ __forceinline__ float bf2f(unsigned short b) {
  return __uint_as_float(((unsigned int)b) << 16); }
__device__ __forceinline__ unsigned short f2bf(float f) { unsigned int u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u); return (unsigned short)(u >> 16); }
__device__ __forceinline__ float h2f(unsigned short h) {
  float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ unsigned short f2h(float f) {
  unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ long long zili_floordiv(long long a, long long b) { if (b == 0) return 0;
  if (b == -1) return (long long)(0ULL - (unsigned long long)a); /* LLONG_MIN/-1: wrap */
  long long q = a / b; if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1; return q; }
__device__ __forceinline__ long long zili_imod(long long a, long long b) {
  if (b == 0 || b == -1) return 0;
  long long r = a % b; if (r != 0 && ((r < 0) != (b < 0))) r += b; return r; }
__device__ __forceinline__ double zili_fmod(double a, double b) { double r = fmod(a, b);
  if (r != 0) { if ((r < 0) != (b < 0)) r += b; } else r = copysign(0.0, b); return r; }
__device__ __forceinline__ float zili_shfl(float v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o); }
__device__ __forceinline__ double zili_shfl(double v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o); }
__device__ __forceinline__ long long zili_shfl(long long v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o); }
__device__ __forceinline__ int zili_shfl(int v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o); }
__device__ __forceinline__ unsigned char zili_shfl(unsigned char v, int o) {
  return (unsigned char)__shfl_down_sync(0xffffffffu, (int)v, o); }
template <class T> __device__ __forceinline__ T zili_combine(T a, T b, bool is_max) {
  return is_max ? ((a > b || a != a) ? a : b) : (T)(a + b); }
/* Block-wide sum or max of v (every thread calls it); the result reaches every thread. */
template <class T> __device__ T zili_block(T v, T identity, bool is_max) {
  __shared__ T part[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  for (int o = 16; o > 0; o >>= 1) v = zili_combine(v, zili_shfl(v, o), is_max);
  __syncthreads();  /* part[] may still be read from the previous call */
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = threadIdx.x < warps ? part[threadIdx.x] : identity;
  if (warp == 0) for (int o = 16; o > 0; o >>= 1) v = zili_combine(v, zili_shfl(v, o), is_max);
  if (threadIdx.x == 0) part[0] = v;
  __syncthreads();
  return part[0];
}
"""

_STORAGE = {"bool": "unsigned char", "uint8": "unsigned char", "int32": "int",
            "int64": "long long", "float16": "unsigned short", "bfloat16": "unsigned short",
            "float32": "float", "float64": "double"}


class CUDARenderer(CLikeRenderer):
    """CUDA C++ for NVRTC: ``__global__`` kernels, blocks and threads, warp shuffles."""

    def storage_type(self, dtype: DType) -> str:
        """The CUDA element type of a buffer (half types as raw 16-bit words)."""
        return _STORAGE[dtype.name]

    def compute_type(self, dtype: DType) -> str:
        """float for the half types, else the storage type."""
        return "float" if dtype.name in ("float16", "bfloat16") else _STORAGE[dtype.name]

    def load_value(self, dtype: DType, text: str) -> str:
        """Widen half types on load."""
        if dtype.name in ("float16", "bfloat16"):
            return f"{'h2f' if dtype.name == 'float16' else 'bf2f'}({text})"
        return text

    def store_value(self, dtype: DType, text: str) -> str:
        """Narrow half types on store."""
        if dtype.name in ("float16", "bfloat16"):
            return f"{'f2h' if dtype.name == 'float16' else 'f2bf'}({text})"
        return text

    def round_half(self, dtype: DType, text: str) -> str:
        """Round a float to float16/bfloat16 precision and back."""
        if dtype.name == "bfloat16":
            return f"bf2f(f2bf({text}))"
        return f"h2f(f2h({text}))" if dtype.name == "float16" else text

    def acc_type(self, stage: Stage, dtype: DType) -> str:
        """Sums of floats accumulate in float (double for float64), integers in 64 bits."""
        if stage.op is Op.SUM:
            if dtype.is_floating_point:
                return "double" if dtype.name == "float64" else "float"
            return "long long"
        return self.compute_type(dtype)

    def function(self, kernel: Kernel, body: list[str]) -> str:
        """``extern "C" __global__ void name(buffers..., rnd..., params..., int* zili_err)``."""
        written = {s.out for s in kernel.stages}
        args = [f"{'' if i in written else 'const '}{self.storage_type(d)}* __restrict__ b{i}"
                for i, d in enumerate(kernel.buffers)]
        args += [f"long long rnd{k}" for k in range(kernel.random_params)]
        args += [f"long long {name}" for name in self.param_names]
        args.append("int* __restrict__ zili_err")
        lines = [f'extern "C" __global__ void __launch_bounds__({BLOCK}) '
                 f"{kernel.name}({', '.join(args)}) {{", "int err = 0;", *body,
                 "if (err) atomicOr(zili_err, 1);", "}"]
        return PRELUDE + "\n".join(lines) + "\n"

    def _decompose(self, var: str, axes: list[int]) -> list[str]:
        """Split the flat index ``var`` into the loop variables of ``axes`` (row-major)."""
        if not axes:
            return []
        lines = [f"long long {var}_r = {var};"]
        for d in reversed(axes[1:]):
            lines.append(f"long long i{d} = {var}_r % {self.size(d)}; {var}_r /= {self.size(d)};")
        lines.append(f"long long i{axes[0]} = {var}_r;")
        return lines

    def _count(self, axes: list[int]) -> str:
        return "*".join(f"(long long){self.size(d)}" for d in axes) or "1LL"

    def loops(self, kernel: Kernel, body: list[str]) -> list[str]:
        """Elementwise: a grid-stride loop of threads over every point. With reduce axes:
        a grid-stride loop of blocks over the rows of kept axes."""
        kept = [d for d in range(len(kernel.shape)) if d not in kernel.reduce_axes]
        if not kernel.reduce_axes:
            return [f"for (long long zt = blockIdx.x * (long long)blockDim.x + threadIdx.x; "
                    f"zt < {self._count(kept)}; zt += (long long)gridDim.x * blockDim.x) {{",
                    *self._decompose("zt", kept), *body, "}"]
        return [f"for (long long zrow = blockIdx.x; zrow < {self._count(kept)}; "
                "zrow += gridDim.x) {", *self._decompose("zrow", kept), *body, "}"]

    def inner_loops(self, kernel: Kernel, body: list[str], stage: Stage) -> list[str]:
        """The row's inner iterations split over the block's threads; a reduce stage ends
        with a block-wide combine of its accumulator."""
        inner = list(kernel.reduce_axes)
        if not inner:
            return body
        k = kernel.stages.index(stage)
        # Earlier stages may have written what this one reads: wait for the whole block.
        out = ["__syncthreads();"] if k else []
        out += [f"for (long long zi = threadIdx.x; zi < {self._count(inner)}; "
                "zi += blockDim.x) {", *self._decompose("zi", inner), *body, "}"]
        if stage.kind == "reduce":
            dtype = stage.value.dtype
            acc_t = self.acc_type(stage, dtype)
            is_max = "true" if stage.op is Op.AMAX else "false"
            out.append(f"a{k} = zili_block<{acc_t}>(a{k}, ({acc_t})"
                       f"{self.acc_init(stage, dtype)}, {is_max});")
        return out

    def render_scatter(self, kernel: Kernel) -> str:
        """out = 0; out[.., index[i], ..] += source[i]. One thread per line of ``out``
        along the scatter axis: the lines are independent, so no atomics are needed and
        the sums are deterministic."""
        axis, out_shape = kernel.special_arg
        out = kernel.stages[0].out
        out_dtype = kernel.buffers[out]
        full = set(range(len(kernel.shape)))
        lines: list[str] = []
        names: dict[tuple, str] = {}
        idx = self.expr_lines(kernel.stages[0].value, full, names, lines)
        src = self.expr_lines(kernel.stages[1].value, full, names, lines)
        rest = [d for d in range(len(out_shape)) if d != axis]
        out_sizes = {d: self.num(out_shape[d]) for d in range(len(out_shape))}
        at_j = self.address(View(out_shape, contiguous_strides(out_shape)),
                            ["zj" if d == axis else f"i{d}" for d in range(len(out_shape))])
        at_g = self.address(View(out_shape, contiguous_strides(out_shape)),
                            ["zg" if d == axis else f"i{d}" for d in range(len(out_shape))])
        total = f"{self.load_value(out_dtype, f'b{out}[{at_g}]')} + {src}"
        lines += [f"long long zg = (long long){idx};",
                  f"if (zg < 0 || zg >= {out_sizes[axis]}) {{ err = 1; continue; }}",
                  f"b{out}[{at_g}] = "
                  f"{self.store_value(out_dtype, self.cast(out_dtype, out_dtype, total))};"]
        rows = "*".join(f"(long long){out_sizes[d]}" for d in rest) or "1LL"
        decompose = ["long long zr = zrow;"]
        for d in reversed(rest):
            decompose.append(f"long long i{d} = zr % {out_sizes[d]}; zr /= {out_sizes[d]};")
        inside = "&&".join(f"i{d} < {self.size(d)}" for d in rest) or "1"
        body = [f"for (long long zrow = blockIdx.x * (long long)blockDim.x + threadIdx.x; "
                f"zrow < {rows}; zrow += (long long)gridDim.x * blockDim.x) {{", *decompose,
                f"for (long long zj = 0; zj < {out_sizes[axis]}; zj++) b{out}[{at_j}] = "
                f"{self.store_value(out_dtype, self.constant(out_dtype, 0))};",
                f"if ({inside}) for (long long i{axis} = 0; i{axis} < {self.size(axis)}; "
                f"i{axis}++) {{", *lines, "}", "}"]
        return self.function(kernel, body)
