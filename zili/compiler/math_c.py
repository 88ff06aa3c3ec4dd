"""float32 exp2 and log2 for the C dialect, written so the C compiler vectorizes them.

A call to libm's ``exp2f`` or ``log2f`` is opaque to GCC's vectorizer: every loop holding
one (softmax, log-sum-exp, cross-entropy, GELU's tanh, sigmoid, SiLU, ``log``) ran one
element at a time. These are branch-free inline functions of plain float and integer
arithmetic (selects instead of branches, ``memcpy`` for bit casts), so a loop calling them
becomes AVX2/NEON code like any other elementwise loop. The cpu device uses them in eager
kernels and fused plans alike (they share the renderer), so eager and jitted results stay
bit for bit equal; float64 keeps libm.

Accuracy, checked against float64 ``exp2``/``log2`` over every one of the 2^32 float32
inputs (tests/compiler/test_math_c.py checks a dense sample of them and the special values):

* ``zili_exp2f``: at most 0.952 ulp (1.23 before its polynomial used fused multiply-adds:
  explicit ``fmaf``, so ``-ffp-contract=off`` still keeps eager and jitted kernels equal);
  exact special values (inf, -inf -> 0, nan, 0 -> 1),
  overflow to inf from 128 on, subnormal results down to 2^-149 (their last bit may differ
  from libm's: the scale is applied in two halves).
* ``zili_log2f``: at most 1.95 ulp; log2(0) = -inf, negative -> nan, inf, nan, subnormal
  inputs exact in their exponent.

Both are our own derivations: exp2 splits x = n + f with |f| <= 1/2 and evaluates a degree-6
polynomial fitted to 2^f in relative error (least squares on Chebyshev nodes, 1.9e-9 before
float rounding); log2 writes x = m * 2^e with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact),
s = f / (2 + f) and ln(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))) with R the atanh series past
its first term, multiplying the exact leading f by 1/ln 2 in two parts so it adds no error.
"""

from __future__ import annotations

from zili.ops import Op

# The dialect's name for each primitive's float32 function (see CRenderer.float_math).
FLOAT_MATH = {Op.EXP2: "zili_exp2f", Op.LOG2: "zili_log2f"}

PRELUDE = r"""static inline float zili_exp2f(float x) {
  float c = x > -151.0f ? x : -151.0f;  /* one max; beyond these 2^x is 0 or inf anyway */
  c = c < 129.0f ? c : 129.0f;          /* one min; a nan goes to -151, back at the end */
  float n = (c + 12582912.0f) - 12582912.0f;   /* round to nearest: 1.5 * 2^23 trick */
  float f = c - n, p = 1.53375775e-4f;  /* explicit fmaf: the same in every kernel */
  p = fmaf(p, f, 1.33998599e-3f); p = fmaf(p, f, 9.61851981e-3f);
  p = fmaf(p, f, 5.55032901e-2f); p = fmaf(p, f, 2.40226462e-1f);
  p = fmaf(p, f, 6.93147182e-1f); p = fmaf(p, f, 1.0f);
  int ni = (int)n, n1 = ni >> 1, n2 = ni - n1;  /* 2^n in two halves: no exponent overflow */
  unsigned int u1 = (unsigned int)(n1 + 127) << 23, u2 = (unsigned int)(n2 + 127) << 23;
  float s1, s2; memcpy(&s1, &u1, 4); memcpy(&s2, &u2, 4);
  float r = p * s1 * s2;
  return x != x ? x : r;
}
static inline float zili_log2f(float x) {
  int sub = x < 1.17549435e-38f;  /* subnormal (or <= 0): scale by 2^23 first */
  float xs = sub ? x * 8388608.0f : x;
  unsigned int u; memcpy(&u, &xs, 4);
  int e = (int)(u - 0x3f3504f3u) >> 23;  /* exponent relative to sqrt(1/2) */
  unsigned int mu = u - ((unsigned int)e << 23);
  float m; memcpy(&m, &mu, 4);
  float f = m - 1.0f, s = f / (2.0f + f), z = s * s, hfsq = 0.5f * f * f;
  float big = z * (0.666666667f + z * (0.4f + z * (0.285714286f + z * 0.222222222f)));
  float corr = s * (hfsq + big) - hfsq;
  float r = f * 1.44269502e+0f + (f * 1.92596299e-8f + corr * 1.44269504f)
            + (float)(e - (sub ? 23 : 0));
  r = x == 0.0f ? -INFINITY : r;
  r = x < 0.0f ? NAN : r;
  r = x == INFINITY ? x : r;
  return x != x ? x : r;
}
"""
