"""C source of zili's single-precision matrix product (SGEMM) for CPU devices.

One translation unit, compiled with the device's flags (``-march=native``): the vector
width and the fused multiply-add come from the target's predefined macros, so the same
text becomes an AVX-512, AVX2/FMA or NEON microkernel, or a portable one (GCC/Clang vector
extensions) elsewhere. The structure is the classic Goto/BLIS one:

* loops over column blocks (NC) and depth blocks (KC) of B; each B block is packed once,
  by all threads together, into NR-wide micro-panels;
* each thread packs MC x KC blocks of A into MR-high micro-panels and runs the MR x NR
  register-blocked microkernel over them (B micro-panel in L1, A block in L2);
* packing reads operands through arbitrary (row, column) strides, so transposed and
  strided operands (the backward products) cost no copy;
* after the last depth block an epilogue runs on the tile while it is in L1:
  ``out = gelu?(alpha * acc + bias) + residual``;
* a batch of small products (attention) runs one product per thread instead, A read in
  place (no packing) and the next product's operands prefetched.

The split over threads never changes the order in which a sum is accumulated (threads
own rows or whole products; the depth loop is always the same), so the result does not
depend on the number of threads or on the caller (eager or a jitted plan).
"""

from zili.compiler.gemm_pack import PACK_SOURCE
from zili.compiler.gemv_source import SKINNY_SOURCE

GEMM_FUNCTION = "zili_sgemm_v"  # integers in an array; zili_sgemm takes them one by one

GEMM_SOURCE = r"""
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <omp.h>

#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 vf;
#define VW 16
#define TARGET "avx512"
#define VLOAD(p) _mm512_load_ps(p)
#define VLOADU(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_store_ps(p, v)
#define VSTOREU(p, v) _mm512_storeu_ps(p, v)
#define VSET1(x) _mm512_set1_ps(x)
#define VZERO() _mm512_setzero_ps()
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VADD(a, b) _mm512_add_ps(a, b)
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 vf;
#define VW 8
#define TARGET "avx2-fma"
#define VLOAD(p) _mm256_load_ps(p)
#define VLOADU(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_store_ps(p, v)
#define VSTOREU(p, v) _mm256_storeu_ps(p, v)
#define VSET1(x) _mm256_set1_ps(x)
#define VZERO() _mm256_setzero_ps()
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VADD(a, b) _mm256_add_ps(a, b)
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
typedef float32x4_t vf;
#define VW 4
#define TARGET "neon"
#define VLOAD(p) vld1q_f32(p)
#define VLOADU(p) vld1q_f32(p)
#define VSTORE(p, v) vst1q_f32(p, v)
#define VSTOREU(p, v) vst1q_f32(p, v)
#define VSET1(x) vdupq_n_f32(x)
#define VZERO() vdupq_n_f32(0.0f)
#define VFMA(a, b, c) vfmaq_f32(c, a, b)
#define VADD(a, b) vaddq_f32(a, b)
#else
typedef float vf __attribute__((vector_size(32), aligned(4)));
#define VW 8
#define TARGET "portable"
static inline vf vload_(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore_(float *p, vf v) { memcpy(p, &v, sizeof v); }
#define VLOAD(p) vload_(p)
#define VLOADU(p) vload_(p)
#define VSTORE(p, v) vstore_(p, v)
#define VSTOREU(p, v) vstore_(p, v)
#define VSET1(x) ((vf){0} + (x))
#define VZERO() ((vf){0})
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VADD(a, b) ((a) + (b))
#endif

#define MR 6
#define NR (2 * VW)
#define KC 256
#define MC_MAX 96
#define NC_MAX 4096

/* How macro_block reads A: packs it into pa, finds it packed there, or reads it in place. */
#define A_TO_PACK 0
#define A_PACKED 1
#define A_IN_PLACE 2

#define EPI_BIAS 1
#define EPI_GELU 2
#define EPI_RESIDUAL 4

const char *zili_sgemm_target(void) { return TARGET; }

/* acc (MR x NR) = packed A panel (kc x MR) times packed B panel (kc x NR); stored to c
   (row stride rsc), added to what c holds when add is set. Full tiles only. */
#define A0 a[0]
#define A1 a[1]
#define A2 a[2]
#define A3 a[3]
#define A4 a[4]
#define A5 a[5]
#define A_NEXT a += MR
static inline void kernel_full(long kc, const float *restrict a, const float *restrict b,
                               float *restrict c, long rsc, int add) {
    vf c00 = VZERO(), c01 = VZERO(), c10 = VZERO(), c11 = VZERO(), c20 = VZERO(),
       c21 = VZERO(), c30 = VZERO(), c31 = VZERO(), c40 = VZERO(), c41 = VZERO(),
       c50 = VZERO(), c51 = VZERO();
    for (long k = 0; k < kc; k++) {
        vf b0 = VLOAD(b), b1 = VLOAD(b + VW), x;
        x = VSET1(A0); c00 = VFMA(x, b0, c00); c01 = VFMA(x, b1, c01);
        x = VSET1(A1); c10 = VFMA(x, b0, c10); c11 = VFMA(x, b1, c11);
        x = VSET1(A2); c20 = VFMA(x, b0, c20); c21 = VFMA(x, b1, c21);
        x = VSET1(A3); c30 = VFMA(x, b0, c30); c31 = VFMA(x, b1, c31);
        x = VSET1(A4); c40 = VFMA(x, b0, c40); c41 = VFMA(x, b1, c41);
        x = VSET1(A5); c50 = VFMA(x, b0, c50); c51 = VFMA(x, b1, c51);
        A_NEXT;
        b += NR;
    }
#define ROW(i, r0, r1) do { float *p = c + (i) * rsc; \
        if (add) { r0 = VADD(r0, VLOADU(p)); r1 = VADD(r1, VLOADU(p + VW)); } \
        VSTOREU(p, r0); VSTOREU(p + VW, r1); } while (0)
    ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21);
    ROW(3, c30, c31); ROW(4, c40, c41); ROW(5, c50, c51);
#undef ROW
}

#undef A0
#undef A1
#undef A2
#undef A3
#undef A4
#undef A5
#undef A_NEXT

/* The same tile with A read in place (element (i, k) at a[i] + k * cs, six row pointers)
   instead of from a packed panel: a batch of small products (attention) spends a third of
   its time packing A otherwise, and A's block fits in L1 either way. Same arithmetic per
   element as kernel_full, so the result does not depend on which of the two ran. */
#define A0 a0[0]
#define A1 a1[0]
#define A2 a2[0]
#define A3 a3[0]
#define A4 a4[0]
#define A5 a5[0]
#define A_NEXT (a0 += cs, a1 += cs, a2 += cs, a3 += cs, a4 += cs, a5 += cs)
static inline void kernel_direct(long kc, const float *const *rows, long cs,
                                 const float *restrict b, float *restrict c, long rsc,
                                 int add) {
    const float *a0 = rows[0], *a1 = rows[1], *a2 = rows[2], *a3 = rows[3], *a4 = rows[4],
                *a5 = rows[5];
    vf c00 = VZERO(), c01 = VZERO(), c10 = VZERO(), c11 = VZERO(), c20 = VZERO(),
       c21 = VZERO(), c30 = VZERO(), c31 = VZERO(), c40 = VZERO(), c41 = VZERO(),
       c50 = VZERO(), c51 = VZERO();
    for (long k = 0; k < kc; k++) {
        vf b0 = VLOAD(b), b1 = VLOAD(b + VW), x;
        x = VSET1(A0); c00 = VFMA(x, b0, c00); c01 = VFMA(x, b1, c01);
        x = VSET1(A1); c10 = VFMA(x, b0, c10); c11 = VFMA(x, b1, c11);
        x = VSET1(A2); c20 = VFMA(x, b0, c20); c21 = VFMA(x, b1, c21);
        x = VSET1(A3); c30 = VFMA(x, b0, c30); c31 = VFMA(x, b1, c31);
        x = VSET1(A4); c40 = VFMA(x, b0, c40); c41 = VFMA(x, b1, c41);
        x = VSET1(A5); c50 = VFMA(x, b0, c50); c51 = VFMA(x, b1, c51);
        A_NEXT;
        b += NR;
    }
#define ROW(i, r0, r1) do { float *p = c + (i) * rsc; \
        if (add) { r0 = VADD(r0, VLOADU(p)); r1 = VADD(r1, VLOADU(p + VW)); } \
        VSTOREU(p, r0); VSTOREU(p + VW, r1); } while (0)
    ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21);
    ROW(3, c30, c31); ROW(4, c40, c41); ROW(5, c50, c51);
#undef ROW
}
#undef A0
#undef A1
#undef A2
#undef A3
#undef A4
#undef A5
#undef A_NEXT

/* out = gelu?(alpha * out + bias) + residual on an mr x nr tile of the output. GELU is the
   tanh form as x * sigmoid(2z), exponent capped like zili's composite. */
static void epilogue(float *c, long rsc, long mr, long nr, float alpha, long flags,
                     const float *bias, long brs, long bcs,
                     const float *res, long rrs, long rcs) {
    const float scale = -2.0f * 0.7978845608028654f * 1.4426950408889634f;
    for (long i = 0; i < mr; i++) {
        float *row = c + i * rsc;
        for (long j = 0; j < nr; j++) {
            float v = row[j];
            if (alpha != 1.0f) v *= alpha;
            if (flags & EPI_BIAS) v += bias[i * brs + j * bcs];
            if (flags & EPI_GELU) {
                float e = v * (v * v * (0.044715f * scale) + scale);
                e = e < 126.0f ? e : 126.0f;
                v = v / (exp2f(e) + 1.0f);
            }
            if (flags & EPI_RESIDUAL) v += res[i * rrs + j * rcs];
            row[j] = v;
        }
    }
}

""" + PACK_SOURCE + r"""
/* The rows m0..m0+mc of one product over one packed B block (columns n0..n0+nc, depth
   k0..k0+kc): pack A, run the microkernels, and the epilogue after the last depth block. */
static void macro_block(long m0, long mc, long n0, long nc, long k0, long kc, int last,
                        const float *A, long ars, long acs, const float *pb, float *pa,
                        int a_packed,
                        float *C, long crs, float alpha, long flags,
                        const float *bias, long brs, long bcs,
                        const float *res, long rrs, long rcs) {
    if (a_packed == A_TO_PACK) pack_a(mc, kc, A + m0 * ars + k0 * acs, ars, acs, pa);
    float tile[MR * NR] __attribute__((aligned(64)));
    for (long j0 = 0; j0 < nc; j0 += NR) {
        long nr = nc - j0 < NR ? nc - j0 : NR;
        const float *bp = pb + j0 * kc;
        for (long i0 = 0; i0 < mc; i0 += MR) {
            long mr = mc - i0 < MR ? mc - i0 : MR;
            float *c = C + (m0 + i0) * crs + n0 + j0;
            /* A partial tile is computed in full (on zero-padded panels, or on the last
               valid row repeated) into a scratch tile, then its valid part is written:
               the arithmetic per element is the same as a full tile's. */
            int full = mr == MR && nr == NR, add = k0 > 0;
            float *dst = full ? c : tile;
            long drs = full ? crs : NR;
            if (a_packed == A_IN_PLACE) {
                const float *rows[MR];
                for (long i = 0; i < MR; i++)
                    rows[i] = A + (m0 + i0 + (i < mr ? i : mr - 1)) * ars + k0 * acs;
                kernel_direct(kc, rows, acs, bp, dst, drs, full && add);
            } else {
                kernel_full(kc, pa + i0 * kc, bp, dst, drs, full && add);
            }
            if (!full)
                for (long i = 0; i < mr; i++)
                    for (long j = 0; j < nr; j++)
                        c[i * crs + j] = add ? c[i * crs + j] + tile[i * NR + j]
                                             : tile[i * NR + j];
            if (last && (flags || alpha != 1.0f)) {
                long m = m0 + i0, n = n0 + j0;
                epilogue(c, crs, mr, nr, alpha, flags,
                         bias ? bias + m * brs + n * bcs : 0, brs, bcs,
                         res ? res + m * rrs + n * rcs : 0, rrs, rcs);
            }
        }
    }
}

static long round_up(long x, long m) { return (x + m - 1) / m * m; }

/* Rows m_lo..m_hi and columns n_lo..n_hi of one product, with this thread's panels. */
static void rectangle(long m_lo, long m_hi, long n_lo, long n_hi, long K,
                      const float *a, long ars, long acs, const float *b, long brs, long bcs,
                      float *c, long N, float alpha, long flags,
                      const float *bias, long bias_rs, long bias_cs,
                      const float *res, long res_rs, long res_cs, float *pa, float *pb,
                      int a_mode) {
    for (long n0 = n_lo; n0 < n_hi; n0 += NC_MAX) {
        long nc = n_hi - n0 < NC_MAX ? n_hi - n0 : NC_MAX;
        for (long k0 = 0; k0 < K; k0 += KC) {
            long kc = K - k0 < KC ? K - k0 : KC;
            for (long j0 = 0; j0 < nc; j0 += NR)
                pack_b_panel(kc, nc - j0 < NR ? nc - j0 : NR, b + k0 * brs + (n0 + j0) * bcs,
                             brs, bcs, pb + j0 * kc);
            for (long m0 = m_lo; m0 < m_hi; m0 += MC_MAX)
                macro_block(m0, m_hi - m0 < MC_MAX ? m_hi - m0 : MC_MAX, n0, nc, k0, kc,
                            k0 + kc >= K, a, ars, acs, pb, pa, a_mode, c, N, alpha, flags,
                            bias, bias_rs, bias_cs, res, res_rs, res_cs);
        }
    }
}

""" + SKINNY_SOURCE + r"""
/* Element offset of product p of a batch laid out as (batch / inner, inner) with strides
   (outer, in): two batch axes cover attention's (batch, heads) views without a copy. */
#define BOFF(p, os, is) (((p) / inner) * (os) + ((p) % inner) * (is))

/* C[p] (M x N, contiguous rows of stride N, product p at C + p * M * N) =
   epilogue(A[p] @ B[p]) for p < batch. Operands and epilogue inputs are given by element
   strides (outer batch, inner batch, row, column); a stride of 0 broadcasts. Work items are
   whole products when there are at least as many as threads, else each product is cut into
   pieces along its longer side; every thread packs its own panels, so
   no thread waits for another inside the product. Returns 0, or 2 when memory for the
   packed panels could not be allocated. */
static int sgemm(long batch, long inner, long M, long N, long K,
               const float *A, long a_os, long a_is, long ars, long acs,
               const float *B, long b_os, long b_is, long brs, long bcs,
               float *C, float alpha, long flags,
               const float *bias, long bias_os, long bias_is, long bias_rs, long bias_cs,
               const float *res, long res_os, long res_is, long res_rs, long res_cs) {
    if (batch <= 0 || M <= 0 || N <= 0) return 0;
    if (K <= 0) {  /* empty sum: zeros, then the epilogue */
        for (long p = 0; p < batch; p++) {
            float *c = C + p * M * N;
            memset(c, 0, (size_t)(M * N) * sizeof(float));
            if (flags)
                epilogue(c, N, M, N, alpha, flags,
                         bias ? bias + BOFF(p, bias_os, bias_is) : 0, bias_rs, bias_cs,
                         res ? res + BOFF(p, res_os, res_is) : 0, res_rs, res_cs);
        }
        return 0;
    }
    int threads = omp_get_max_threads();
    double flops = 2.0 * (double)batch * M * N * K;
    if (flops < 4.0e5) threads = 1;
    if (batch == 1) {  /* a skinny product reads B in place (see SKINNY_SOURCE) */
        int status = skinny_sgemm(M, N, K, A, ars, acs, B, brs, bcs, C, alpha, flags,
                                  bias, bias_rs, bias_cs, res, res_rs, res_cs, threads);
        if (status != 1) return status;
    } else if (skinny_fits(M, K, brs, bcs) && (bcs == 1 || acs == 1)) {
        /* decode attention: one row per head, each product on one thread */
        int dot = bcs != 1;
        #pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
        for (long p = 0; p < batch; p++)
            skinny_columns(0, N, M, N, K, A + BOFF(p, a_os, a_is), ars, acs,
                           B + BOFF(p, b_os, b_is), brs, bcs, C + p * M * N, dot, alpha, flags,
                           bias ? bias + BOFF(p, bias_os, bias_is) : 0, bias_rs, bias_cs,
                           res ? res + BOFF(p, res_os, res_is) : 0, res_rs, res_cs);
        return 0;
    }
    long kc_max = K < KC ? K : KC;
    int failed = 0;
    if (batch >= threads) {  /* many products: one whole product per work item */
        int a_mode = M * K <= 16384 ? A_IN_PLACE : A_TO_PACK;  /* see kernel_direct */
        long nc_max = round_up(N < NC_MAX ? N : NC_MAX, NR);
        long mc_max = round_up(M < MC_MAX ? M : MC_MAX, MR);
        #pragma omp parallel num_threads(threads) reduction(|: failed)
        {
            float *pb = aligned_alloc(64, (size_t)round_up(kc_max * nc_max * 4, 64));
            float *pa = aligned_alloc(64, (size_t)round_up(kc_max * mc_max * 4, 64));
            if (!pb || !pa) failed = 1;
            #pragma omp for schedule(dynamic, 1)
            for (long p = 0; p < batch; p++) {
                if (!pb || !pa) continue;
                if (p + threads < batch && M * K + K * N <= PREFETCH_MAX) {
                    long q = p + threads;
                    prefetch_matrix(A + BOFF(q, a_os, a_is), M, K, ars, acs, 0);
                    prefetch_matrix(B + BOFF(q, b_os, b_is), K, N, brs, bcs, 0);
                    prefetch_matrix(C + q * M * N, M, N, N, 1, 1);
                }
                rectangle(0, M, 0, N, K, A + BOFF(p, a_os, a_is), ars, acs,
                          B + BOFF(p, b_os, b_is), brs, bcs, C + p * M * N, N, alpha, flags,
                          bias ? bias + BOFF(p, bias_os, bias_is) : 0, bias_rs, bias_cs,
                          res ? res + BOFF(p, res_os, res_is) : 0, res_rs, res_cs, pa, pb,
                          a_mode);
            }
            free(pb);
            free(pa);
        }
        return failed ? 2 : 0;
    }
    /* Few large products. The operand every piece needs in full (B when the pieces are row
       ranges, A when they are column ranges) is packed once, by all threads, for the whole
       depth; then the product is cut into four pieces per thread along its longer side,
       taken dynamically, so a thread that loses its core on a shared machine leaves its
       pieces to the others. Each piece packs only its own slice of the other operand. */
    int split_rows = M >= N;
    long n_pad = round_up(N, NR), m_pad = round_up(M, MR);
    long parts = 4 * threads;
    long step = split_rows ? round_up((M + parts - 1) / parts, MR)
                           : round_up((N + parts - 1) / parts, NR);
    if (split_rows && step < 48) step = 48;
    if (!split_rows && step < 64) step = 64;
    long side = split_rows ? M : N;
    parts = (side + step - 1) / step;
    long k_blocks = (K + KC - 1) / KC;
    float *shared = aligned_alloc(64, (size_t)round_up(K * (split_rows ? n_pad : m_pad) * 4,
                                                       64));
    if (!shared) return 2;
    for (long p = 0; p < batch; p++) {
        const float *a = A + BOFF(p, a_os, a_is), *b = B + BOFF(p, b_os, b_is);
        float *c = C + p * M * N;
        const float *pbias = bias ? bias + BOFF(p, bias_os, bias_is) : 0;
        const float *pres = res ? res + BOFF(p, res_os, res_is) : 0;
        #pragma omp parallel num_threads(threads) reduction(|: failed)
        {
            long own = split_rows ? (step < MC_MAX ? step : MC_MAX) * kc_max
                                  : round_up(step, NR) * kc_max;
            float *mine = aligned_alloc(64, (size_t)round_up(own * 4, 64));
            if (!mine) failed = 1;
            if (split_rows) {
                #pragma omp for schedule(static) collapse(2)
                for (long kb = 0; kb < k_blocks; kb++)
                    for (long j0 = 0; j0 < N; j0 += NR) {
                        long k0 = kb * KC, kc = K - k0 < KC ? K - k0 : KC;
                        pack_b_panel(kc, N - j0 < NR ? N - j0 : NR, b + k0 * brs + j0 * bcs,
                                     brs, bcs, shared + k0 * n_pad + j0 * kc);
                    }
            } else {
                #pragma omp for schedule(static)
                for (long kb = 0; kb < k_blocks; kb++) {
                    long k0 = kb * KC, kc = K - k0 < KC ? K - k0 : KC;
                    pack_a(M, kc, a + k0 * acs, ars, acs, shared + k0 * m_pad);
                }
            }
            #pragma omp for schedule(dynamic, 1)
            for (long part = 0; part < parts; part++) {
                if (!mine) continue;
                long lo = part * step, hi = lo + step < side ? lo + step : side;
                for (long k0 = 0; k0 < K; k0 += KC) {
                    long kc = K - k0 < KC ? K - k0 : KC;
                    int last = k0 + kc >= K;
                    if (split_rows) {
                        for (long m0 = lo; m0 < hi; m0 += MC_MAX)
                            macro_block(m0, hi - m0 < MC_MAX ? hi - m0 : MC_MAX, 0, N, k0, kc,
                                        last, a, ars, acs, shared + k0 * n_pad, mine,
                                        A_TO_PACK, c, N, alpha, flags, pbias, bias_rs,
                                        bias_cs, pres, res_rs, res_cs);
                    } else {
                        for (long j0 = lo; j0 < hi; j0 += NR)
                            pack_b_panel(kc, hi - j0 < NR ? hi - j0 : NR,
                                         b + k0 * brs + j0 * bcs, brs, bcs,
                                         mine + (j0 - lo) * kc);
                        for (long m0 = 0; m0 < M; m0 += MC_MAX)
                            macro_block(m0, M - m0 < MC_MAX ? M - m0 : MC_MAX, lo, hi - lo, k0,
                                        kc, last, a, ars, acs, mine,
                                        (float *)shared + k0 * m_pad + m0 * kc, A_PACKED, c, N,
                                        alpha, flags, pbias, bias_rs, bias_cs, pres, res_rs,
                                        res_cs);
                    }
                }
            }
            free(mine);
        }
    }
    free(shared);
    return failed ? 2 : 0;
}

/* The entry point in the devices' kernel convention: buffers first, then 64-bit integers
   (element offsets of the buffers, sizes, strides, alpha as the bits of a float). Unused
   epilogue buffers may be any buffer; flags say which are read. */
int zili_sgemm(float *C, const float *A, const float *B, const float *bias, const float *res,
               long long c_off, long long a_off, long long b_off, long long bias_off,
               long long res_off, long long batch, long long inner, long long M, long long N,
               long long K, long long a_os, long long a_is, long long ars, long long acs,
               long long b_os, long long b_is, long long brs, long long bcs,
               long long alpha_bits, long long flags,
               long long bias_os, long long bias_is, long long bias_rs, long long bias_cs,
               long long res_os, long long res_is, long long res_rs, long long res_cs) {
    union { int i; float f; } alpha = { .i = (int)alpha_bits };
    return sgemm(batch, inner, M, N, K, A + a_off, a_os, a_is, ars, acs,
                 B + b_off, b_os, b_is, brs, bcs, C + c_off, alpha.f, flags,
                 (flags & EPI_BIAS) ? bias + bias_off : 0, bias_os, bias_is, bias_rs, bias_cs,
                 (flags & EPI_RESIDUAL) ? res + res_off : 0, res_os, res_is, res_rs, res_cs);
}

/* The same with the 28 integers in one array: a call through ctypes converts each argument
   (11 us for 33 of them, more than a decode-sized product), a pointer costs one. */
int zili_sgemm_v(float *C, const float *A, const float *B, const float *bias, const float *res,
                 const long long *v) {
    return zili_sgemm(C, A, B, bias, res, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
                      v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19],
                      v[20], v[21], v[22], v[23], v[24], v[25], v[26], v[27]);
}
"""
