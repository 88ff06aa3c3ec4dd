"""The CUDA dialect of the work-group renderer (:mod:`zili.compiler.render_gpu`).

A spelling table (``extern "C" __global__``, blocks and threads for work-groups and
work-items, ``__shared__`` for local memory, ``__syncthreads`` for the barrier), type names,
and one change of method: a row's reduction combines its threads' partial results with warp
shuffles (``__shfl_down_sync``) and one ``__shared__`` slot per warp, instead of the base's
tree in local memory. Everything else (which thread does what, tiled MATMUL, scatter_add,
launch geometry) is the base's, shared with OpenCL.

Half types are stored as raw 16-bit words and computed in float (``cvt`` for float16, bit
arithmetic for bfloat16), rounded after each operation as on the other devices, so NVRTC
compiles the source with no CUDA header. Nothing else is CUDA-only: HIP spells the same
table and has the same shuffles.
"""

from __future__ import annotations

from zili.compiler.ir import Kernel, Stage
from zili.compiler.render_gpu import GroupRenderer
from zili.dtype import DType
from zili.ops import Op

PRELUDE = r"""#define INFINITY __int_as_float(0x7f800000)
#define NAN __int_as_float(0x7fffffff)
#define INT_MIN (-2147483647 - 1)
#define LLONG_MIN (-9223372036854775807LL - 1)
__device__ __forceinline__ long long zili_gid(int d) { return d == 0 ?
  blockIdx.x * (long long)blockDim.x + threadIdx.x : d == 1 ?
  blockIdx.y * (long long)blockDim.y + threadIdx.y :
  blockIdx.z * (long long)blockDim.z + threadIdx.z; }
__device__ __forceinline__ int zili_lid(int d) {
  return d == 0 ? threadIdx.x : d == 1 ? threadIdx.y : threadIdx.z; }
__device__ __forceinline__ long long zili_group(int d) {
  return d == 0 ? blockIdx.x : d == 1 ? blockIdx.y : blockIdx.z; }
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
  if (r != 0 && ((r < 0) != (b < 0))) r += b; return r; }  /* a zero keeps fmod's sign */
__device__ __forceinline__ float zili_shfl(float v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o); }
__device__ __forceinline__ double zili_shfl(double v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o); }
__device__ __forceinline__ long long zili_shfl(long long v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o); }
__device__ __forceinline__ int zili_shfl(int v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o); }
__device__ __forceinline__ unsigned long long zili_shfl(unsigned long long v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o); }
__device__ __forceinline__ unsigned int zili_shfl(unsigned int v, int o) {
  return __shfl_down_sync(0xffffffffu, v, o); }
__device__ __forceinline__ unsigned char zili_shfl(unsigned char v, int o) {
  return (unsigned char)__shfl_down_sync(0xffffffffu, (int)v, o); }
__device__ __forceinline__ signed char zili_shfl(signed char v, int o) {
  return (signed char)__shfl_down_sync(0xffffffffu, (int)v, o); }
__device__ __forceinline__ short zili_shfl(short v, int o) {
  return (short)__shfl_down_sync(0xffffffffu, (int)v, o); }
__device__ __forceinline__ unsigned short zili_shfl(unsigned short v, int o) {
  return (unsigned short)__shfl_down_sync(0xffffffffu, (int)v, o); }
template <class T> __device__ __forceinline__ T zili_combine(T a, T b, bool is_max) {
  return is_max ? ((a > b || a != a) ? a : b) : (T)(a + b); }
/* Sum or max of v over the block (every thread calls it; blockDim.x a multiple of 32):
   shuffles inside each warp, one shared slot per warp, shuffles again in warp 0. The result
   reaches every thread. */
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

_STORAGE = {"bool": "unsigned char", "uint8": "unsigned char", "int8": "signed char",
            "int16": "short", "uint16": "unsigned short", "int32": "int",
            "uint32": "unsigned int", "int64": "long long", "uint64": "unsigned long long",
            "float16": "unsigned short", "bfloat16": "unsigned short", "float32": "float",
            "float64": "double"}


class CUDARenderer(GroupRenderer):
    """CUDA C++ for NVRTC (``extern "C"`` entry points, no headers)."""

    spell = {"kernel": 'extern "C" __global__ void', "gid": "zili_gid({})",
             "lid": "zili_lid({})", "group_id": "zili_group({})",
             "barrier": "__syncthreads();", "local": "__shared__", "global": ""}
    prelude = PRELUDE
    group = 256  # threads per block: 8 warps

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
        """Narrow half types on store (round to nearest even)."""
        if dtype.name in ("float16", "bfloat16"):
            return f"{'f2h' if dtype.name == 'float16' else 'f2bf'}({text})"
        return text

    def round_half(self, dtype: DType, text: str) -> str:
        """Round a float to float16/bfloat16 precision and back."""
        if dtype.name == "bfloat16":
            return f"bf2f(f2bf({text}))"
        return f"h2f(f2h({text}))" if dtype.name == "float16" else text

    def inner_loops(self, kernel: Kernel, body: list[str], stage: Stage) -> list[str]:
        """The base's strided loop over the row; a reduction then combines with warp
        shuffles (:func:`zili_block` in the prelude) rather than a shared-memory tree."""
        inner = list(kernel.reduce_axes)
        if not inner or stage.kind != "reduce":
            return super().inner_loops(kernel, body, stage)
        loop = self.row_loop(kernel, body, stage)  # pass 0 or 1 of a two-pass reduction too
        k = kernel.stages.index(stage)
        dtype = stage.value.dtype
        acc_t = self.acc_type(stage, dtype)
        is_max = "true" if stage.op is Op.AMAX else "false"
        return loop + [f"a{k} = zili_block<{acc_t}>(a{k}, ({acc_t})"
                       f"{self.acc_init(stage, dtype)}, {is_max});",
                       *self.partial_store(stage, k)]
