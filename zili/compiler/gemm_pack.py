"""C source of the SGEMM's packing (operand blocks copied into the microkernel's panels)
and prefetching, part of :mod:`zili.compiler.gemm_source`'s translation unit.

Packing reads operands through arbitrary (row, column) strides, so transposed and strided
operands cost no copy first. A transposed B (columns contiguous: attention's ``k.T``,
``v.T``) is transposed in 8 x 8 register blocks on AVX2. It uses the macros ``MR``, ``NR``
and the target macros defined before it.
"""

PACK_SOURCE = r"""
/* B[k0:k0+kc, n0:n0+nc] (strides rs, cs) into NR-wide panels, zero-padded to NR. */
static void pack_b_panel(long kc, long nr, const float *b, long rs, long cs, float *dst) {
    if (nr == NR && cs == 1) {
        for (long k = 0; k < kc; k++) memcpy(dst + k * NR, b + k * rs, NR * sizeof(float));
        return;
    }
    if (nr < NR)
        for (long k = 0; k < kc; k++)
            for (long j = nr; j < NR; j++) dst[k * NR + j] = 0.0f;
    if (cs != 1 && rs == 1) {  /* transposed operand: columns are contiguous */
        long k0 = 0;
#if defined(__AVX2__) && !defined(__AVX512F__)
        /* 8 x 8 blocks transposed in registers: the scalar loop below stores with a
           stride of a whole panel row and costs as much as the attention product. */
        if (nr == NR)
            for (; k0 + 8 <= kc; k0 += 8)
                for (long h = 0; h < NR; h += 8) {
                    const float *col = b + h * cs + k0;
                    __m256 r0 = _mm256_loadu_ps(col), r1 = _mm256_loadu_ps(col + cs),
                           r2 = _mm256_loadu_ps(col + 2 * cs), r3 = _mm256_loadu_ps(col + 3 * cs),
                           r4 = _mm256_loadu_ps(col + 4 * cs), r5 = _mm256_loadu_ps(col + 5 * cs),
                           r6 = _mm256_loadu_ps(col + 6 * cs), r7 = _mm256_loadu_ps(col + 7 * cs);
                    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                           t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
                           t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
#define SHUF _mm256_shuffle_ps
                    __m256 u0 = SHUF(t0, t2, 0x44), u1 = SHUF(t0, t2, 0xEE),
                           u2 = SHUF(t1, t3, 0x44), u3 = SHUF(t1, t3, 0xEE),
                           u4 = SHUF(t4, t6, 0x44), u5 = SHUF(t4, t6, 0xEE),
                           u6 = SHUF(t5, t7, 0x44), u7 = SHUF(t5, t7, 0xEE);
#undef SHUF
                    float *d = dst + k0 * NR + h;
                    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
                    _mm256_storeu_ps(d + NR, _mm256_permute2f128_ps(u1, u5, 0x20));
                    _mm256_storeu_ps(d + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
                    _mm256_storeu_ps(d + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
                    _mm256_storeu_ps(d + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
                    _mm256_storeu_ps(d + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
                    _mm256_storeu_ps(d + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
                    _mm256_storeu_ps(d + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
                }
#endif
        for (long j = 0; j < nr; j++) {
            const float *col = b + j * cs;
            for (long k = k0; k < kc; k++) dst[k * NR + j] = col[k];
        }
        return;
    }
    for (long k = 0; k < kc; k++)
        for (long j = 0; j < nr; j++) dst[k * NR + j] = b[k * rs + j * cs];
}

/* A[m0:m0+mc, k0:k0+kc] (strides rs, cs) into MR-high panels, zero-padded to MR. */
static void pack_a(long mc, long kc, const float *a, long rs, long cs, float *dst) {
    for (long i0 = 0; i0 < mc; i0 += MR) {
        long mr = mc - i0 < MR ? mc - i0 : MR;
        float *d = dst + i0 * kc;
        const float *s = a + i0 * rs;
        if (cs == 1 && mr == MR) {  /* six row streams, contiguous stores */
            const float *r0 = s, *r1 = s + rs, *r2 = s + 2 * rs, *r3 = s + 3 * rs,
                        *r4 = s + 4 * rs, *r5 = s + 5 * rs;
            for (long k = 0; k < kc; k++, d += MR) {
                d[0] = r0[k]; d[1] = r1[k]; d[2] = r2[k];
                d[3] = r3[k]; d[4] = r4[k]; d[5] = r5[k];
            }
            continue;
        }
        if (cs == 1) {
            for (long i = 0; i < mr; i++)
                for (long k = 0; k < kc; k++) d[k * MR + i] = s[i * rs + k];
        } else {
            for (long k = 0; k < kc; k++)
                for (long i = 0; i < mr; i++) d[k * MR + i] = s[i * rs + k * cs];
        }
        for (long i = mr; i < MR; i++)
            for (long k = 0; k < kc; k++) d[k * MR + i] = 0.0f;
    }
}

/* Asks for the cache lines of a rows x cols matrix (strides rs, cs; for writing when
   write is set) ahead of use. The batch of small products (attention) reads operands
   that are strided views of a tensor larger than L2, a few lines per row: the hardware
   prefetcher does not follow them, so without this a product waits on memory for a
   third of its time. Work item p asks for item p + threads, the next one its thread
   likely takes. Only a row- or column-contiguous matrix is prefetched. */
#define PREFETCH_MAX (64 * 1024)
static void prefetch_matrix(const float *x, long rows, long cols, long rs, long cs,
                            int write) {
    long lines = 16;  /* floats per 64-byte cache line */
    if (cs != 1 && rs == 1) {  /* column-contiguous: walk it transposed */
        long t = rows; rows = cols; cols = t; rs = cs;
    } else if (cs != 1) {
        return;
    }
    for (long i = 0; i < rows; i++)
        for (long j = 0; j < cols + lines - 1; j += lines) {
            const float *p = x + i * rs + (j < cols ? j : cols - 1);
            if (write) __builtin_prefetch(p, 1, 3);
            else __builtin_prefetch(p, 0, 3);
        }
}

"""
