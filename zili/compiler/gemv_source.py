"""C source of the SGEMM's path for skinny products (at most ``SKINNY_ROWS`` rows: a decode
step's batch x 1 token times a weight), part of :mod:`zili.compiler.gemm_source`'s unit.

Such a product is bound by reading the weight once. The packed path copies the whole
weight into panels on every call (8x slower than BLAS at one row); this path reads it in
place instead:

* weight rows contiguous along the depth (``x @ W.T``, every ``nn.Linear``): dot products,
  four weight rows against two rows of ``x`` at a time, vectors along the depth, summed
  across lanes at the end;
* weight rows contiguous along the output (``x @ W``): ``axpy`` form, four rows of ``x``
  broadcast against 16 weight columns read in place, one weight row after the other.

A batch of such products (decode attention: one query row per (sequence, head) against
its keys or values) runs the same loops, one whole product per thread. Threads split the
output columns or the batch only, so, as in the packed path, the order in which each sum
is accumulated depends on the shape alone, never on the number of threads. It uses the
vector macros (``vf``, ``VW``, ``VLOADU``...) and ``epilogue`` defined before it.
"""

SKINNY_ROWS = 16

SKINNY_SOURCE = r"""
#define SKINNY_ROWS 16
#define SKINNY_PART 64  /* output columns per work item */

static inline float hsum(vf v) {
    float lanes[VW];
    VSTOREU(lanes, v);
    float s = 0.0f;
    for (int i = 0; i < VW; i++) s += lanes[i];
    return s;
}

/* c[i * rsc + j] = x_i . w_j for i < mb (1 or 2) and j < nb (1 to 4): rows of x and w
   contiguous over the depth K. */
static inline __attribute__((always_inline))
void dot_tile(long K, const float *x, long rsx, const float *w, long rsw, const long mb,
              long nb, float *c, long rsc) {
    const float *x0 = x, *x1 = mb > 1 ? x + rsx : x;
    const float *w0 = w, *w1 = nb > 1 ? w + rsw : w, *w2 = nb > 2 ? w + 2 * rsw : w,
                *w3 = nb > 3 ? w + 3 * rsw : w;
    vf a00 = VZERO(), a01 = VZERO(), a02 = VZERO(), a03 = VZERO(),
       a10 = VZERO(), a11 = VZERO(), a12 = VZERO(), a13 = VZERO();
    long k = 0;
    if (mb == 1)  /* one row of x (batch 1 decode): no second row to share the loads */
        for (; k + VW <= K; k += VW) {
            vf y = VLOADU(x0 + k);
            a00 = VFMA(y, VLOADU(w0 + k), a00); a01 = VFMA(y, VLOADU(w1 + k), a01);
            a02 = VFMA(y, VLOADU(w2 + k), a02); a03 = VFMA(y, VLOADU(w3 + k), a03);
        }
    else
    for (; k + VW <= K; k += VW) {
        vf v0 = VLOADU(w0 + k), v1 = VLOADU(w1 + k), v2 = VLOADU(w2 + k),
           v3 = VLOADU(w3 + k), y = VLOADU(x0 + k);
        a00 = VFMA(y, v0, a00); a01 = VFMA(y, v1, a01);
        a02 = VFMA(y, v2, a02); a03 = VFMA(y, v3, a03);
        y = VLOADU(x1 + k);
        a10 = VFMA(y, v0, a10); a11 = VFMA(y, v1, a11);
        a12 = VFMA(y, v2, a12); a13 = VFMA(y, v3, a13);
    }
    float s[2][4] = {{hsum(a00), hsum(a01), hsum(a02), hsum(a03)},
                     {hsum(a10), hsum(a11), hsum(a12), hsum(a13)}};
    const float *ws[4] = {w0, w1, w2, w3}, *xs[2] = {x0, x1};
    for (long i = 0; i < mb; i++)
        for (long j = 0; j < nb; j++) {
            float t = s[i][j];
            for (long kk = k; kk < K; kk++) t += xs[i][kk] * ws[j][kk];
            c[i * rsc + j] = t;
        }
}

/* c[j] = x . w_j for j < nb (1 to 8), one row of x (batch 1 decode): eight weight rows at
   a time, so a load of x serves eight FMAs (four rows left the loads the bottleneck). */
static void dot_row8(long K, const float *x, const float *w, long rsw, long nb, float *c) {
    const float *r[8];
    for (long j = 0; j < 8; j++) r[j] = w + (j < nb ? j : nb - 1) * rsw;
    vf a0 = VZERO(), a1 = VZERO(), a2 = VZERO(), a3 = VZERO(), a4 = VZERO(), a5 = VZERO(),
       a6 = VZERO(), a7 = VZERO();
    long k = 0;
    for (; k + VW <= K; k += VW) {
        vf y = VLOADU(x + k);
        a0 = VFMA(y, VLOADU(r[0] + k), a0); a1 = VFMA(y, VLOADU(r[1] + k), a1);
        a2 = VFMA(y, VLOADU(r[2] + k), a2); a3 = VFMA(y, VLOADU(r[3] + k), a3);
        a4 = VFMA(y, VLOADU(r[4] + k), a4); a5 = VFMA(y, VLOADU(r[5] + k), a5);
        a6 = VFMA(y, VLOADU(r[6] + k), a6); a7 = VFMA(y, VLOADU(r[7] + k), a7);
    }
    float s[8] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3), hsum(a4), hsum(a5), hsum(a6),
                  hsum(a7)};
    for (long j = 0; j < nb; j++) {
        float t = s[j];
        for (long kk = k; kk < K; kk++) t += x[kk] * r[j][kk];
        c[j] = t;
    }
}

/* c[i, 0:nb] = sum_k x[i, k] * w[k, 0:nb] for i < mb (1 to 4), nb <= 2 * VW: rows of w
   contiguous over the output (row stride rsw), x through any strides. */
static inline __attribute__((always_inline))
void axpy_tile(long K, const float *x, long xrs, long xcs, const float *w, long rsw,
               const long mb, long nb, float *c, long rsc) {
    const float *x0 = x, *x1 = x + (mb > 1 ? xrs : 0), *x2 = x + (mb > 2 ? 2 * xrs : 0),
                *x3 = x + (mb > 3 ? 3 * xrs : 0);
    vf a00 = VZERO(), a01 = VZERO(), a10 = VZERO(), a11 = VZERO(),
       a20 = VZERO(), a21 = VZERO(), a30 = VZERO(), a31 = VZERO();
    if (nb == 2 * VW) {
        for (long k = 0; k < K; k++) {
            const float *row = w + k * rsw;
            vf b0 = VLOADU(row), b1 = VLOADU(row + VW), y;
            long o = k * xcs;
            y = VSET1(x0[o]); a00 = VFMA(y, b0, a00); a01 = VFMA(y, b1, a01);
            if (mb > 1) { y = VSET1(x1[o]); a10 = VFMA(y, b0, a10); a11 = VFMA(y, b1, a11); }
            if (mb > 2) { y = VSET1(x2[o]); a20 = VFMA(y, b0, a20); a21 = VFMA(y, b1, a21); }
            if (mb > 3) { y = VSET1(x3[o]); a30 = VFMA(y, b0, a30); a31 = VFMA(y, b1, a31); }
        }
        vf acc[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
        for (long i = 0; i < mb; i++) {
            VSTOREU(c + i * rsc, acc[i][0]);
            VSTOREU(c + i * rsc + VW, acc[i][1]);
        }
        return;
    }
    /* Fewer columns than a tile: the same sums, one column at a time. */
    const float *xs[4] = {x0, x1, x2, x3};
    for (long i = 0; i < mb; i++)
        for (long j = 0; j < nb; j++) {
            float t = 0.0f;
            for (long k = 0; k < K; k++) t += xs[i][k * xcs] * w[k * rsw + j];
            c[i * rsc + j] = t;
        }
}

/* Whether the skinny path takes a product: few rows, B's rows or columns contiguous. */
static int skinny_fits(long M, long K, long brs, long bcs) {
    return M <= SKINNY_ROWS && K > 0 && ((brs == 1 && bcs != 1) || bcs == 1);
}

/* C (M x N, row stride N) = epilogue(A @ B) for M <= SKINNY_ROWS when B's rows or columns
   are contiguous. Returns 0; 1 when the shape is not one this path takes (the caller
   runs the packed path); 2 when scratch memory could not be allocated. */
/* Columns n0..n1 of C = epilogue(A @ B) (C's row stride N); A's rows contiguous for the
   dot form (dot set), any strides for the axpy form. */
static void skinny_columns(long n0, long n1, long M, long N, long K, const float *A,
                           long ars, long acs, const float *B, long brs, long bcs, float *C,
                           int dot, float alpha, long flags, const float *bias, long bias_rs,
                           long bias_cs, const float *res, long res_rs, long res_cs) {
    if (dot && M == 1) {
        for (long j = n0; j < n1; j += 8)
            dot_row8(K, A, B + j * bcs, bcs, n1 - j < 8 ? n1 - j : 8, C + j);
    } else if (dot) {
        for (long j = n0; j < n1; j += 4) {
            long nb = n1 - j < 4 ? n1 - j : 4;
            long i = 0;
            for (; i + 2 <= M; i += 2)  /* constant row counts: specialised copies */
                dot_tile(K, A + i * ars, ars, B + j * bcs, bcs, 2, nb, C + i * N + j, N);
            if (i < M) dot_tile(K, A + i * ars, ars, B + j * bcs, bcs, 1, nb, C + i * N + j, N);
        }
    } else {
        for (long j = n0; j < n1; j += 2 * VW) {
            long nb = n1 - j < 2 * VW ? n1 - j : 2 * VW;
            for (long i = 0; i < M; i += 4) {
                const float *x = A + i * ars;
                float *c = C + i * N + j;
                switch (M - i) {
                case 1: axpy_tile(K, x, ars, acs, B + j, brs, 1, nb, c, N); break;
                case 2: axpy_tile(K, x, ars, acs, B + j, brs, 2, nb, c, N); break;
                case 3: axpy_tile(K, x, ars, acs, B + j, brs, 3, nb, c, N); break;
                default: axpy_tile(K, x, ars, acs, B + j, brs, 4, nb, c, N);
                }
            }
        }
    }
    if (flags || alpha != 1.0f)
        epilogue(C + n0, N, M, n1 - n0, alpha, flags, bias ? bias + n0 * bias_cs : 0,
                 bias_rs, bias_cs, res ? res + n0 * res_cs : 0, res_rs, res_cs);
}

static int skinny_sgemm(long M, long N, long K, const float *A, long ars, long acs,
                        const float *B, long brs, long bcs, float *C, float alpha,
                        long flags, const float *bias, long bias_rs, long bias_cs,
                        const float *res, long res_rs, long res_cs, int threads) {
    int dot = brs == 1 && bcs != 1;
    if (!skinny_fits(M, K, brs, bcs)) return 1;
    float *xc = 0;
    if (dot && acs != 1) {  /* the dot products want rows of A contiguous: copy them */
        xc = malloc((size_t)(M * K) * sizeof(float));
        if (!xc) return 2;
        for (long i = 0; i < M; i++)
            for (long k = 0; k < K; k++) xc[i * K + k] = A[i * ars + k * acs];
        A = xc; ars = K; acs = 1;
    }
    long parts = (N + SKINNY_PART - 1) / SKINNY_PART;
    if (2.0 * M * N * K < 4.0e5) threads = 1;
    #pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (long part = 0; part < parts; part++) {
        long n0 = part * SKINNY_PART;
        skinny_columns(n0, n0 + SKINNY_PART < N ? n0 + SKINNY_PART : N, M, N, K, A, ars, acs,
                       B, brs, bcs, C, dot, alpha, flags, bias, bias_rs, bias_cs, res, res_rs,
                       res_cs);
    }
    free(xc);
    return 0;
}
"""
