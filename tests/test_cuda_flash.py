"""The cuda device's flash attention without a GPU.

1. NVRTC compiles it (forward and backward, head dims 64 and 128) for sm_80 and sm_90.
2. Its CUDA source runs on the CPU under a small emulator (g++, one OS thread per CUDA
   thread, ``__syncthreads`` as a barrier, ``__shared__`` as memory the block's threads
   share) and matches PyTorch's scaled_dot_product_attention forward and backward, causal
   and not, on views with batch strides. This checks the algorithm, the indexing and the
   block's synchronisation pattern; it is not a run on a GPU (no warps, no real
   concurrency model, no timing), which has not happened yet.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest
import torch

from zili.compiler.attention_cuda import HEAD_DIMS, flash_source
from zili.compiler.gemm import float_bits
from zili.compiler.render_cuda import PRELUDE
from zili.devices import cuda as cuda_device

EMULATOR = r"""
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>
using std::min;
struct zili_dim { long long x; };
static thread_local zili_dim threadIdx;
static zili_dim blockIdx, blockDim, gridDim;
static std::barrier<>* zili_barrier;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __syncthreads() zili_barrier->arrive_and_wait()
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static void zili_launch(long long grid, long long block, const std::function<void()>& kernel) {
  gridDim.x = grid; blockDim.x = block;
  for (long long b = 0; b < grid; b++) {
    blockIdx.x = b;
    std::barrier<> barrier(block);
    zili_barrier = &barrier;
    std::vector<std::thread> threads;
    for (long long t = 0; t < block; t++)
      threads.emplace_back([&, t] { threadIdx.x = t; kernel(); });
    for (auto& thread : threads) thread.join();
  }
}
"""

FWD_ARGS = ", ".join(f"I[{n}]" for n in range(20))


def _wrappers() -> str:
    out = []
    for d in HEAD_DIMS:
        out.append(f"""
extern "C" void run_forward_{d}(long long grid, long long block, float* o, float* lse,
    const float* q, const float* k, const float* v, const long long* I) {{
  zili_launch(grid, block, [&] {{ zili_flash_forward_{d}(o, lse, q, k, v, {FWD_ARGS}); }});
}}
extern "C" void run_backward_{d}(long long grid, long long block, float* dq, float* dk,
    float* dv, const float* q, const float* k, const float* v, const float* out,
    const float* lse, const float* dout, const long long* I) {{
  zili_launch(grid, block, [&] {{ zili_flash_backward_{d}(dq, dk, dv, q, k, v, out, lse, dout,
      {FWD_ARGS}, I[20]); }});
}}""")
    return "".join(out)


@pytest.mark.skipif(cuda_device.nvrtc_version() is None, reason="NVRTC not installed")
@pytest.mark.parametrize("arch", cuda_device.ARCHITECTURES)
def test_flash_attention_compiles_with_nvrtc(arch):
    # -G: unoptimised (the optimised build of both head dims takes minutes on CI's cores)
    cubin = cuda_device.nvrtc_compile("zili_flash", flash_source(PRELUDE), arch, ("-G",))
    assert cubin[:4] == b"\x7fELF"
    for d in HEAD_DIMS:
        assert f"zili_flash_forward_{d}".encode() in cubin
        assert f"zili_flash_backward_{d}".encode() in cubin


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("no g++ to build the emulator")
    folder = tmp_path_factory.mktemp("flash")
    source = folder / "flash.cpp"
    source.write_text(EMULATOR + flash_source("") + _wrappers())
    library = folder / "flash.so"
    done = subprocess.run(["g++", "-std=c++20", "-O0", "-pthread", "-shared", "-fPIC",
                           "-o", str(library), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return ctypes.CDLL(str(library))


def _ptr(array: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(array.ctypes.data)


@pytest.mark.parametrize("d", HEAD_DIMS)
@pytest.mark.parametrize("causal", [False, True])
def test_flash_attention_matches_torch_under_emulation(emulated, d, causal):
    rng = np.random.default_rng(d + causal)
    heads, length, source = 2, 37, 37 if causal else 45
    # q, k, v as (B=1, H, T, D) views into (T, H, D) storage, as attention's permute makes
    q, k, v = (rng.standard_normal((n, heads, d)).astype(np.float32)
               for n in (length, source, source))
    dout = rng.standard_normal((heads, length, d)).astype(np.float32)
    scale = 1.0 / np.sqrt(d)
    ints = [0, 0, 0, heads, heads, length, source, d, d, int(causal), float_bits(scale)]
    for _ in range(3):
        ints += [0, d, heads * d]  # outer batch stride, head stride, row stride (elements)
    ints_arr = np.array(ints + [0], np.int64)
    out = np.zeros((heads, length, d), np.float32)
    lse = np.zeros((heads, length), np.float32)
    grid, block = 2, 32  # fewer threads than rows: tiles and the grid-stride loop both run
    emulated[f"run_forward_{d}"](ctypes.c_longlong(grid), ctypes.c_longlong(block), _ptr(out),
                                 _ptr(lse), _ptr(q), _ptr(k), _ptr(v), _ptr(ints_arr))
    dq, dk, dv = (np.zeros((heads, n, d), np.float32) for n in (length, source, source))
    emulated[f"run_backward_{d}"](ctypes.c_longlong(grid), ctypes.c_longlong(block), _ptr(dq),
                                  _ptr(dk), _ptr(dv), _ptr(q), _ptr(k), _ptr(v), _ptr(out),
                                  _ptr(lse), _ptr(dout), _ptr(ints_arr))
    tq, tk, tv = (torch.tensor(x, dtype=torch.float64).permute(1, 0, 2).requires_grad_()
                  for x in (q, k, v))
    expected = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
    expected.backward(torch.tensor(dout, dtype=torch.float64))
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-4, atol=1e-4)
    scores = (tq @ tk.transpose(-1, -2)) * scale
    if causal:
        scores = scores.masked_fill(torch.ones(length, source).triu(1).bool(), float("-inf"))
    np.testing.assert_allclose(lse, torch.logsumexp(scores, -1).detach().numpy(), rtol=1e-4,
                               atol=1e-4)
    for name, got, t in (("dq", dq, tq), ("dk", dk, tk), ("dv", dv, tv)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-3, atol=1e-3, err_msg=name)
