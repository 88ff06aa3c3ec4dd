"""A CPU emulator for zili's CUDA source, for tests on machines without a GPU.

CUDA C++ is compiled by g++ with a small header that stands in for the CUDA runtime: every
CUDA thread of a block is an OS thread, ``__syncthreads`` is a barrier of the block,
``__shfl_down_sync`` exchanges values through memory with a barrier per warp, ``__shared__``
memory is shared by the block's threads, blocks run one after the other. That checks what a
kernel computes (index arithmetic, the split of work over threads and blocks, shuffles and
barriers used as the programming model says), not how a GPU runs it: no timing, no memory
model beyond barriers, no occupancy or register limits.
"""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

HEADER = r"""
#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>
using std::min;
using std::max;
struct zili_dim { long long x, y, z; };
static thread_local zili_dim threadIdx;
static zili_dim blockIdx, blockDim, gridDim;
static std::barrier<>* zili_block_barrier;
static std::vector<std::unique_ptr<std::barrier<>>> zili_warp_barriers;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __syncthreads() zili_block_barrier->arrive_and_wait()
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
static inline int atomicOr(int* p, int v) { int old = *p; *p |= v; return old; }
template <class T> T __shfl_down_sync(unsigned, T v, int o) {
  static T slot[1024];
  long long lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  slot[threadIdx.x] = v;
  zili_warp_barriers[warp]->arrive_and_wait();
  T got = lane + o < 32 && threadIdx.x + o < blockDim.x ? slot[threadIdx.x + o] : v;
  zili_warp_barriers[warp]->arrive_and_wait();
  return got;
}
static void zili_launch(long long gx, long long gy, long long gz, long long bx, long long by,
                        long long bz, const std::function<void()>& kernel) {
  gridDim = {gx, gy, gz}; blockDim = {bx, by, bz};
  long long threads = bx * by * bz;
  for (long long b = 0; b < gx * gy * gz; b++) {
    blockIdx = {b % gx, (b / gx) % gy, b / (gx * gy)};
    std::barrier<> barrier(threads);
    zili_block_barrier = &barrier;
    zili_warp_barriers.clear();
    for (long long w = 0; w < (bx + 31) / 32; w++)
      zili_warp_barriers.emplace_back(new std::barrier<>(min(32LL, bx - 32 * w)));
    std::vector<std::thread> pool;
    for (long long t = 0; t < threads; t++)
      pool.emplace_back([&, t] { threadIdx = {t % bx, (t / bx) % by, t / (bx * by)}; kernel(); });
    for (auto& thread : pool) thread.join();
  }
}
"""

# The device prelude's two PTX conversions, as CPU code (g++ has _Float16 on x86-64).
_PTX = {
    'asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f;':
        "_Float16 x; std::memcpy(&x, &h, 2); f = (float)x; return f;",
    'asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h;':
        "_Float16 x = (_Float16)f; std::memcpy(&h, &x, 2); return h;",
}


def for_cpu(source: str) -> str:
    """CUDA source with the PTX inline assembly replaced by its CPU equivalent.

    Raises:
        AssertionError: if the source holds inline assembly this module does not know.
    """
    for ptx, cpu in _PTX.items():
        source = source.replace(ptx, cpu)
    assert "asm(" not in source, "unknown inline PTX in the source"
    return source


def wrapper(name: str, params: list[str]) -> str:
    """``run_<name>(grid xyz, block xyz, void** buffers, long long* ints)`` calling kernel
    ``name`` whose parameters are ``params`` (C types, in order: pointers, then integers)."""
    args, b, i = [], 0, 0
    for ctype in params:
        if ctype.endswith("*"):
            args.append(f"({ctype.replace('const ', '')})B[{b}]")
            b += 1
        else:
            args.append(f"I[{i}]")
            i += 1
    return (f'extern "C" void run_{name}(long long gx, long long gy, long long gz, '
            f"long long bx, long long by, long long bz, void** B, const long long* I) {{\n"
            f"  zili_launch(gx, gy, gz, bx, by, bz, [&] {{ {name}({', '.join(args)}); }});\n}}\n")


def build(source: str, folder: Path) -> ctypes.CDLL:
    """Compile emulator header + ``source`` with g++ into a loaded library.

    Raises:
        AssertionError: with g++'s message when it fails.
    """
    path = folder / "emulated.cpp"
    path.write_text(HEADER + source)
    library = folder / "emulated.so"
    done = subprocess.run(["g++", "-std=c++20", "-O0", "-w", "-pthread", "-shared", "-fPIC",
                           "-o", str(library), str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    return ctypes.CDLL(str(library))


def launch(library: ctypes.CDLL, name: str, grid: tuple[int, ...], block: tuple[int, ...],
           buffers: list, ints: list[int]) -> None:
    """Run kernel ``name`` over ``grid`` x ``block`` on NumPy ``buffers`` and ``ints``."""
    grid = tuple(grid) + (1,) * (3 - len(grid))
    block = tuple(block) + (1,) * (3 - len(block))
    pointers = (ctypes.c_void_p * max(len(buffers), 1))(*[b.ctypes.data for b in buffers])
    values = (ctypes.c_longlong * max(len(ints), 1))(*ints)
    getattr(library, f"run_{name}")(*[ctypes.c_longlong(v) for v in grid + block],
                                    pointers, values)
