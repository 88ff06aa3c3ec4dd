"""C source of zili's fused scaled-dot-product attention for CPU devices (float32).

Forward: one work item per (product, block of 32 queries). The item packs K^T of the keys
its queries may see (causal: up to its last query), then for each query walks the keys in
blocks of 64 with an online softmax (running maximum, rescaled sum and accumulator), so the
L x S score matrix never exists; it writes the output row and the row's log-sum-exp.

Backward (FlashAttention-2's equations, one work item per product so dK and dV need no
atomics): recompute each score from the saved log-sum-exp, p = exp(s - lse),
dp = dO . v, ds = p * (dp - D) with D = dO . O, then dQ += ds k, dK += ds q, dV += p dO.

Score rows are computed across keys against packed K^T (and dp against packed V^T), so the
inner loops are plain vectorizable axpys; no horizontal sums. Causal is top-left aligned
(key j is visible from query i when j <= i), as ``is_causal`` in PyTorch.
"""

ATTENTION_FORWARD = "zili_attention_forward"
ATTENTION_BACKWARD = "zili_attention_backward"

ATTENTION_SOURCE = r"""
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <omp.h>

#define QB 32
#define KB 64
#define BOFF(p, os, is) (((p) / inner) * (os) + ((p) % inner) * (is))

/* kt[e * ld + j] = k[j * rs + e] for j < n: keys as columns, so score rows vectorize. */
static void pack_t(long n, long e_count, const float *k, long rs, float *kt, long ld) {
    for (long j = 0; j < n; j++)
        for (long e = 0; e < e_count; e++) kt[e * ld + j] = k[j * rs + e];
}

typedef float v8 __attribute__((vector_size(32), aligned(4)));

static inline v8 load8(const float *p) { v8 x; memcpy(&x, p, sizeof x); return x; }
static inline void store8(float *p, v8 x) { memcpy(p, &x, sizeof x); }

/* s[j] = scale * q . k_j for j in [j0, j1): 16 keys at a time in two vector registers,
   walking the packed K^T once. */
static void scores(const float *restrict q, const float *restrict kt, long ld, long e_count,
                   long j0, long j1, float scale, float *restrict s) {
    long j = j0;
    for (; j + 16 <= j1; j += 16) {
        v8 a0 = {0}, a1 = {0};
        for (long e = 0; e < e_count; e++) {
            const float *row = kt + e * ld + j;
            a0 += q[e] * load8(row);
            a1 += q[e] * load8(row + 8);
        }
        store8(s + j, a0 * scale);
        store8(s + j + 8, a1 * scale);
    }
    for (; j < j1; j++) {
        float a = 0.0f;
        for (long e = 0; e < e_count; e++) a += q[e] * kt[e * ld + j];
        s[j] = a * scale;
    }
}

/* acc[e] += sum_j p[j] * v[j][e] for j in [j0, j1): 16 columns of acc stay in registers
   while the keys stream past. */
static void weighted_sum(const float *restrict p, const float *restrict v, long rs,
                         long j0, long j1, long width, float *restrict acc) {
    long e = 0;
    for (; e + 16 <= width; e += 16) {
        v8 a0 = load8(acc + e), a1 = load8(acc + e + 8);
        for (long j = j0; j < j1; j++) {
            const float *row = v + j * rs + e;
            a0 += p[j] * load8(row);
            a1 += p[j] * load8(row + 8);
        }
        store8(acc + e, a0);
        store8(acc + e + 8, a1);
    }
    for (; e < width; e++) {
        float a = acc[e];
        for (long j = j0; j < j1; j++) a += p[j] * v[j * rs + e];
        acc[e] = a;
    }
}

static int attention_forward(long batch, long inner, long L, long S, long E, long Ev,
                           long causal, float scale,
                           const float *q, long q_os, long q_is, long q_rs,
                           const float *k, long k_os, long k_is, long k_rs,
                           const float *v, long v_os, long v_is, long v_rs,
                           float *o, float *lse) {
    long blocks = (L + QB - 1) / QB;
    int failed = 0;
    #pragma omp parallel reduction(|: failed)
    {
        float *kt = malloc(sizeof(float) * (size_t)(E * S + S + Ev + 1));
        if (!kt) failed = 1;
        #pragma omp for schedule(dynamic, 1)
        for (long item = 0; item < batch * blocks; item++) {
            if (!kt) continue;
            long p = item / blocks, i0 = item % blocks * QB;
            long i1 = i0 + QB < L ? i0 + QB : L;
            long visible = causal ? (i1 < S ? i1 : S) : S;
            float *s = kt + E * S, *acc = s + S;
            const float *qp = q + BOFF(p, q_os, q_is), *kp = k + BOFF(p, k_os, k_is);
            const float *vp = v + BOFF(p, v_os, v_is);
            pack_t(visible, E, kp, k_rs, kt, S);
            for (long i = i0; i < i1; i++) {
                long limit = causal ? (i + 1 < S ? i + 1 : S) : S;
                float m = -INFINITY, l = 0.0f;
                for (long e = 0; e < Ev; e++) acc[e] = 0.0f;
                for (long j0 = 0; j0 < limit; j0 += KB) {
                    long j1 = j0 + KB < limit ? j0 + KB : limit;
                    scores(qp + i * q_rs, kt, S, E, j0, j1, scale, s);
                    float mb = m;
                    for (long j = j0; j < j1; j++) mb = s[j] > mb ? s[j] : mb;
                    float corr = expf(m - mb);  /* 0 on the first block (m = -inf) */
                    l *= corr;
                    for (long e = 0; e < Ev; e++) acc[e] *= corr;
                    for (long j = j0; j < j1; j++) {
                        s[j] = expf(s[j] - mb);
                        l += s[j];
                    }
                    weighted_sum(s, vp, v_rs, j0, j1, Ev, acc);
                    m = mb;
                }
                float *out = o + (p * L + i) * Ev;
                float inv = 1.0f / l;
                for (long e = 0; e < Ev; e++) out[e] = acc[e] * inv;
                lse[p * L + i] = m + logf(l);
            }
        }
        free(kt);
    }
    return failed ? 2 : 0;
}

static int attention_backward(long batch, long inner, long L, long S, long E, long Ev,
                            long causal, float scale,
                            const float *q, long q_os, long q_is, long q_rs,
                            const float *k, long k_os, long k_is, long k_rs,
                            const float *v, long v_os, long v_is, long v_rs,
                            const float *o, const float *lse, const float *dout,
                            float *dq, float *dk, float *dv) {
    int failed = 0;
    #pragma omp parallel reduction(|: failed)
    {
        float *kt = malloc(sizeof(float) * (size_t)((E + Ev) * S + 2 * S));
        if (!kt) failed = 1;
        #pragma omp for schedule(dynamic, 1)
        for (long p = 0; p < batch; p++) {
            if (!kt) continue;
            float *vt = kt + E * S, *s = vt + Ev * S, *dp = s + S;
            const float *qp = q + BOFF(p, q_os, q_is), *kp = k + BOFF(p, k_os, k_is);
            const float *vp = v + BOFF(p, v_os, v_is);
            float *dqp = dq + p * L * E, *dkp = dk + p * S * E, *dvp = dv + p * S * Ev;
            pack_t(S, E, kp, k_rs, kt, S);
            pack_t(S, Ev, vp, v_rs, vt, S);
            memset(dkp, 0, sizeof(float) * (size_t)(S * E));
            memset(dvp, 0, sizeof(float) * (size_t)(S * Ev));
            for (long i = 0; i < L; i++) {
                long limit = causal ? (i + 1 < S ? i + 1 : S) : S;
                const float *qi = qp + i * q_rs, *doi = dout + (p * L + i) * Ev;
                const float *oi = o + (p * L + i) * Ev;
                float *dqi = dqp + i * E;
                float d = 0.0f, li = lse[p * L + i];
                for (long e = 0; e < Ev; e++) d += doi[e] * oi[e];
                scores(qi, kt, S, E, 0, limit, scale, s);
                scores(doi, vt, S, Ev, 0, limit, 1.0f, dp);
                for (long e = 0; e < E; e++) dqi[e] = 0.0f;
                for (long j = 0; j < limit; j++) {
                    float pj = expf(s[j] - li);
                    float ds = pj * (dp[j] - d) * scale;
                    const float *restrict kj = kp + j * k_rs;
                    float *restrict dkj = dkp + j * E, *restrict dvj = dvp + j * Ev;
                    for (long e = 0; e < E; e++) dqi[e] += ds * kj[e];
                    for (long e = 0; e < E; e++) dkj[e] += ds * qi[e];
                    for (long e = 0; e < Ev; e++) dvj[e] += pj * doi[e];
                }
            }
        }
        free(kt);
    }
    return failed ? 2 : 0;
}

/* Entry points in the devices' kernel convention: buffers, then 64-bit integers (element
   offsets, sizes, the scale as float bits, strides: outer batch, inner batch, row). */
#define ATTENTION_INTS long long q_off, long long k_off, long long v_off, long long batch, \
    long long inner, long long L, long long S, long long E, long long Ev, long long causal, \
    long long scale_bits, long long q_os, long long q_is, long long q_rs, long long k_os, \
    long long k_is, long long k_rs, long long v_os, long long v_is, long long v_rs
#define ATTENTION_ARGS batch, inner, L, S, E, Ev, causal, scale.f, q + q_off, q_os, q_is, \
    q_rs, k + k_off, k_os, k_is, k_rs, v + v_off, v_os, v_is, v_rs

int zili_attention_forward(float *o, float *lse, const float *q, const float *k,
                           const float *v, ATTENTION_INTS) {
    union { int i; float f; } scale = { .i = (int)scale_bits };
    return attention_forward(ATTENTION_ARGS, o, lse);
}

int zili_attention_backward(float *dq, float *dk, float *dv, const float *q, const float *k,
                            const float *v, const float *o, const float *lse,
                            const float *dout, ATTENTION_INTS, long long dout_off) {
    union { int i; float f; } scale = { .i = (int)scale_bits };
    return attention_backward(ATTENTION_ARGS, o, lse, dout + dout_off, dq, dk, dv);
}
"""
