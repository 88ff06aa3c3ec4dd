"""CUDA source of zili's flash attention (float32, head dims 64 and 128, causal or not),
forward and backward, in the cpu device's fused-attention convention
(:mod:`zili.compiler.attention`): the same buffers and the same 20 (forward) or 21
(backward) 64-bit integers. The kernels loop over their work (grid-stride), so the
device launches them with no geometry of their own.

Forward: each block takes a tile of ``blockDim.x`` query rows of one batch entry, one thread
per row; key and value rows stream through ``__shared__`` tiles of 32 rows (loaded by the
whole block, ``__syncthreads`` around each tile), with an online softmax (running maximum,
rescaled sum and accumulator), so the L x S scores never exist in memory. It also writes
each row's log-sum-exp for the backward.

Backward, one launch: blocks first take query tiles (dq: recompute the scores from the
log-sum-exp, ds = p (dO.v - D) with D = dO.O per row) and then key tiles (dk, dv: the same
quantities with keys as the thread's row, queries streaming through shared tiles), so no
atomics are needed and the result does not depend on the launch geometry.

This is the straightforward one-row-per-thread form, not yet a tensor-core (mma) kernel. It
has been compiled by NVRTC for sm_80 and sm_90 but never run on a GPU.
"""

from __future__ import annotations

from typing import Any

from zili.compiler.attention import FusedAttention, Operand
from zili.compiler.runtime import Signature
from zili.dtype import float32
from zili.ops.view import View

HEAD_DIMS = (64, 128)
FORWARD, BACKWARD = "zili_flash_forward_{d}", "zili_flash_backward_{d}"

FLASH_SOURCE = r"""
#define ZT 32  /* key (forward, dq) or query (dk, dv) rows per shared tile */
#define ATT_INTS long long q_off, long long k_off, long long v_off, long long batch, \
    long long inner, long long L, long long S, long long E, long long Ev, long long causal, \
    long long scale_bits, long long q_os, long long q_is, long long q_rs, long long k_os, \
    long long k_is, long long k_rs, long long v_os, long long v_is, long long v_rs

/* Where row 0 of batch entry z starts, for an operand with offset and batch strides. */
__device__ __forceinline__ long long zili_base(long long z, long long inner, long long off,
                                               long long os, long long is) {
  return off + (z / inner) * os + (z % inner) * is;
}

/* Copy rows [r0, r0 + ZT) of a (rows, D) operand into a shared tile (zeros past the end). */
template <int D>
__device__ void zili_tile(float* tile, const float* src, long long base, long long rs,
                          long long r0, long long rows) {
  for (int t = threadIdx.x; t < ZT * D; t += blockDim.x) {
    long long r = r0 + t / D;
    tile[t] = r < rows ? src[base + r * rs + t % D] : 0.0f;
  }
}

template <int D>
__device__ void zili_flash_forward(float* __restrict__ o, float* __restrict__ lse,
                                   const float* __restrict__ q, const float* __restrict__ k,
                                   const float* __restrict__ v, ATT_INTS) {
  __shared__ float kt[ZT * D], vt[ZT * D];
  float scale = __int_as_float((int)scale_bits);
  long long tiles = (L + blockDim.x - 1) / blockDim.x;
  for (long long work = blockIdx.x; work < batch * tiles; work += gridDim.x) {
    long long z = work / tiles, i = (work % tiles) * blockDim.x + threadIdx.x;
    bool row = i < L;
    long long qb = zili_base(z, inner, q_off, q_os, q_is);
    long long kb = zili_base(z, inner, k_off, k_os, k_is);
    long long vb = zili_base(z, inner, v_off, v_os, v_is);
    float qi[D], acc[D];
    for (int e = 0; e < D; e++) {
      qi[e] = row ? q[qb + i * q_rs + e] * scale : 0.0f;
      acc[e] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    long long last = causal ? min(S, (work % tiles + 1) * (long long)blockDim.x) : S;
    for (long long j0 = 0; j0 < last; j0 += ZT) {
      __syncthreads();
      zili_tile<D>(kt, k, kb, k_rs, j0, S);
      zili_tile<D>(vt, v, vb, v_rs, j0, S);
      __syncthreads();
      float s[ZT], tmax = -INFINITY;
      for (int j = 0; j < ZT; j++) {
        float dot = 0.0f;
        for (int e = 0; e < D; e++) dot += qi[e] * kt[j * D + e];
        bool ok = row && j0 + j < S && !(causal && j0 + j > i);
        s[j] = ok ? dot : -INFINITY;
        tmax = fmaxf(tmax, s[j]);
      }
      if (tmax == -INFINITY) continue;
      float mnew = fmaxf(m, tmax), corr = expf(m - mnew);
      l *= corr;
      for (int e = 0; e < D; e++) acc[e] *= corr;
      for (int j = 0; j < ZT; j++) {
        float p = expf(s[j] - mnew);
        l += p;
        for (int e = 0; e < D; e++) acc[e] += p * vt[j * D + e];
      }
      m = mnew;
    }
    if (row) {
      float inv = 1.0f / l;
      long long ob = (z * L + i) * D;
      for (int e = 0; e < D; e++) o[ob + e] = acc[e] * inv;
      lse[z * L + i] = m + logf(l);
    }
  }
}

template <int D>
__device__ void zili_flash_backward(float* __restrict__ dq, float* __restrict__ dk,
                                    float* __restrict__ dv, const float* __restrict__ q,
                                    const float* __restrict__ k, const float* __restrict__ v,
                                    const float* __restrict__ out, const float* __restrict__ lse,
                                    const float* __restrict__ dout, ATT_INTS,
                                    long long dout_off) {
  __shared__ float t1[ZT * D], t2[ZT * D], t3[ZT], t4[ZT];
  float scale = __int_as_float((int)scale_bits);
  long long qtiles = (L + blockDim.x - 1) / blockDim.x, ktiles = (S + blockDim.x - 1) / blockDim.x;
  for (long long work = blockIdx.x; work < batch * (qtiles + ktiles); work += gridDim.x) {
    bool query_side = work < batch * qtiles;
    long long w = query_side ? work : work - batch * qtiles;
    long long tiles = query_side ? qtiles : ktiles;
    long long z = w / tiles, r = (w % tiles) * blockDim.x + threadIdx.x;
    long long qb = zili_base(z, inner, q_off, q_os, q_is);
    long long kb = zili_base(z, inner, k_off, k_os, k_is);
    long long vb = zili_base(z, inner, v_off, v_os, v_is);
    long long ob = z * L * D, gb = dout_off + z * L * D;
    if (query_side) {  /* dq for query row r */
      bool row = r < L;
      float qi[D], gi[D], acc[D], d = 0.0f, li = row ? lse[z * L + r] : 0.0f;
      for (int e = 0; e < D; e++) {
        qi[e] = row ? q[qb + r * q_rs + e] : 0.0f;
        gi[e] = row ? dout[gb + r * D + e] : 0.0f;
        d += row ? gi[e] * out[ob + r * D + e] : 0.0f;
        acc[e] = 0.0f;
      }
      long long last = causal ? min(S, (w % tiles + 1) * (long long)blockDim.x) : S;
      for (long long j0 = 0; j0 < last; j0 += ZT) {
        __syncthreads();
        zili_tile<D>(t1, k, kb, k_rs, j0, S);
        zili_tile<D>(t2, v, vb, v_rs, j0, S);
        __syncthreads();
        for (int j = 0; j < ZT; j++) {
          if (!row || j0 + j >= S || (causal && j0 + j > r)) continue;
          float s = 0.0f, dp = 0.0f;
          for (int e = 0; e < D; e++) { s += qi[e] * t1[j * D + e]; dp += gi[e] * t2[j * D + e]; }
          float p = expf(s * scale - li), ds = p * (dp - d) * scale;
          for (int e = 0; e < D; e++) acc[e] += ds * t1[j * D + e];
        }
      }
      if (row) for (int e = 0; e < D; e++) dq[(z * L + r) * D + e] = acc[e];
    } else {  /* dk, dv for key row r */
      bool row = r < S;
      float kj[D], vj[D], ak[D], av[D];
      for (int e = 0; e < D; e++) {
        kj[e] = row ? k[kb + r * k_rs + e] : 0.0f;
        vj[e] = row ? v[vb + r * v_rs + e] : 0.0f;
        ak[e] = 0.0f; av[e] = 0.0f;
      }
      long long first = causal ? ((w % tiles) * (long long)blockDim.x) / ZT * ZT : 0;
      for (long long i0 = first; i0 < L; i0 += ZT) {
        __syncthreads();
        zili_tile<D>(t1, q, qb, q_rs, i0, L);
        zili_tile<D>(t2, dout, gb, D, i0, L);
        for (int t = threadIdx.x; t < ZT; t += blockDim.x) {
          long long i = i0 + t;
          float d = 0.0f;
          if (i < L) for (int e = 0; e < D; e++) d += dout[gb + i * D + e] * out[ob + i * D + e];
          t3[t] = d;
          t4[t] = i < L ? lse[z * L + i] : 0.0f;
        }
        __syncthreads();
        for (int t = 0; t < ZT; t++) {
          long long i = i0 + t;
          if (!row || i >= L || (causal && r > i)) continue;
          float s = 0.0f, dp = 0.0f;
          for (int e = 0; e < D; e++) { s += t1[t * D + e] * kj[e]; dp += t2[t * D + e] * vj[e]; }
          float p = expf(s * scale - t4[t]), ds = p * (dp - t3[t]) * scale;
          for (int e = 0; e < D; e++) { av[e] += p * t2[t * D + e]; ak[e] += ds * t1[t * D + e]; }
        }
      }
      if (row) for (int e = 0; e < D; e++) {
        dk[(z * S + r) * D + e] = ak[e];
        dv[(z * S + r) * D + e] = av[e];
      }
    }
  }
}
"""

_ENTRY = r"""
extern "C" __global__ void __launch_bounds__(256) zili_flash_forward_{d}(
    float* o, float* lse, const float* q, const float* k, const float* v, ATT_INTS) {{
  zili_flash_forward<{d}>(o, lse, q, k, v, q_off, k_off, v_off, batch, inner, L, S, E, Ev,
      causal, scale_bits, q_os, q_is, q_rs, k_os, k_is, k_rs, v_os, v_is, v_rs);
}}
extern "C" __global__ void __launch_bounds__(256) zili_flash_backward_{d}(
    float* dq, float* dk, float* dv, const float* q, const float* k, const float* v,
    const float* out, const float* lse, const float* dout, ATT_INTS, long long dout_off) {{
  zili_flash_backward<{d}>(dq, dk, dv, q, k, v, out, lse, dout, q_off, k_off, v_off, batch,
      inner, L, S, E, Ev, causal, scale_bits, q_os, q_is, q_rs, k_os, k_is, k_rs, v_os, v_is,
      v_rs, dout_off);
}}
"""


def flash_source(prelude: str) -> str:
    """The whole translation unit: ``prelude`` (the CUDA renderer's, for INFINITY and
    friends), the templates, and forward/backward entry points for every head dim."""
    return prelude + FLASH_SOURCE + "".join(_ENTRY.format(d=d) for d in HEAD_DIMS)


class CUDAFlashAttention(FusedAttention):
    """The cuda device's fused replacement of ``scaled_dot_product_attention``: the kernels
    above, one pair per head dim, behind the cpu device's :class:`FusedAttention` interface
    (same views accepted, same integer arguments). Not yet run on a GPU."""

    def __init__(self, device: Any, prelude: str):
        self.device = device
        source = flash_source(prelude)
        signatures = {"f": Signature(5, 20, False), "b": Signature(9, 21, False)}
        self.programs = {(kind, d): device.compile(name.format(d=d), source, signatures[kind])
                         for d in HEAD_DIMS for kind, name in (("f", FORWARD), ("b", BACKWARD))}

    @staticmethod
    def supports(q: View, k: View, v: View) -> bool:
        """The cpu kernels' conditions, and a head dim of 64 or 128 for q, k and v alike."""
        return q.shape[-1] == k.shape[-1] == v.shape[-1] and q.shape[-1] in HEAD_DIMS and \
            FusedAttention.supports(q, k, v)

    def forward(self, q: Operand, k: Operand, v: Operand, causal: bool,
                scale: float) -> tuple[Any, Any]:
        """Output (..., L, D) and the rows' log-sum-exp, contiguous float32."""
        batch, ints = self._ints(q, k, v, causal, scale)
        length, width = q[1].shape[-2], q[1].shape[-1]
        out = self.device.alloc(batch * length * width, float32)
        lse = self.device.alloc(batch * length, float32)
        self.device.launch(self.programs["f", width], [out, lse, q[0], k[0], v[0]], ints)
        return out, lse

    def backward(self, q: Operand, k: Operand, v: Operand, causal: bool, scale: float,
                 out: Any, lse: Any, grad: tuple[Any, int]) -> tuple[Any, Any, Any]:
        """(dq, dk, dv), contiguous, from the forward's ``out`` and ``lse``."""
        batch, ints = self._ints(q, k, v, causal, scale)
        length, source, width = q[1].shape[-2], k[1].shape[-2], q[1].shape[-1]
        dq = self.device.alloc(batch * length * width, float32)
        dk = self.device.alloc(batch * source * width, float32)
        dv = self.device.alloc(batch * source * width, float32)
        self.device.launch(self.programs["b", width],
                           [dq, dk, dv, q[0], k[0], v[0], out, lse, grad[0]],
                           [*ints, int(grad[1])])
        return dq, dk, dv
