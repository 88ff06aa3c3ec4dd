"""Special functions on Tensor: ``erf``, ``erfc``, ``erfinv``, ``lgamma``, ``digamma`` and
``polygamma``, each composed of primitives, with exact derivatives as custom nodes.

Accuracy comes from the evaluation, not from a wider type: float32 tensors are evaluated in
float32 and float64 tensors in float64 (float16/bfloat16 in float32, then rounded).

- erf/erfc: in float32 a Chebyshev fit of erfc (relative error < 1.2e-7, Numerical Recipes
  6.2) and a power series for |x| < 0.5 (so erf keeps its relative accuracy near 0); in
  float64 the series erf(x) = 2/sqrt(pi) e^-x^2 sum 2^k x^(2k+1) / (2k+1)!! (all terms
  positive: no cancellation) below |x| = 2 and the continued fraction of erfc above.
- erfinv: Giles' single-precision polynomials in w = -log(1 - x^2), then Newton steps on
  erf(y) = x (on erfc(y) = 1 - x near +-1, where 1 - x is exact).
- lgamma/digamma/polygamma: the recurrence moves x to x + 8 and the asymptotic (Stirling)
  series finishes; negative x goes through the reflection formulas, with sin(pi x) taken on
  the exact fraction x - floor(x) so that large |x| keeps its accuracy.

Gradients: erf' = 2/sqrt(pi) e^-x^2, erfinv' = sqrt(pi)/2 e^(y^2), lgamma' = digamma,
digamma' = polygamma(1), polygamma(n)' = polygamma(n + 1).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from zili import dtype as dtypes
from zili.errors import ArgumentError
from zili.tensor.autograd import Function, set_grad_enabled

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
# erfc(z) ~ t exp(-z^2 + P(t)), t = 1 / (1 + z/2), z >= 0 (Numerical Recipes, sec. 6.2)
_ERFC_NR = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
            -1.13520398, 1.48851587, -0.82215223, 0.17087277)
# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011), single precision
_ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                   0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)
# Bernoulli numbers B_2k, k = 1..9: the asymptotic series of lgamma and the polygammas
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
              43867 / 798)
SHIFT = 8  # the recurrence moves x to x + SHIFT, where the asymptotic series is accurate


def _wide(x: Tensor) -> tuple[Tensor, dtypes.DType]:
    """x as the float type it is evaluated in, and the dtype of the result."""
    if not x.dtype.is_floating_point:
        return x.to(dtypes.default_float), dtypes.default_float
    if x.dtype in (dtypes.float16, dtypes.bfloat16):
        return x.to(dtypes.float32), x.dtype
    return x, x.dtype


def _is64(x: Tensor) -> bool:
    return x.dtype is dtypes.float64


def _polyval(coeffs: tuple[float, ...], t: Tensor) -> Tensor:
    """coeffs[0] t^(n-1) + ... + coeffs[-1] (Horner)."""
    out = t * coeffs[0] + coeffs[1]
    for c in coeffs[2:]:
        out = out * t + c
    return out


def _erf_series(x: Tensor, terms: int) -> Tensor:
    """2/sqrt(pi) e^-x^2 sum_k 2^k x^(2k+1) / (2k+1)!!: accurate while 2x^2 << terms."""
    x2 = x * x * 2.0
    term, total = x, x
    for k in range(1, terms):
        term = term * x2 * (1.0 / (2 * k + 1))
        total = total + term
    return total * (-(x * x)).exp() * TWO_OVER_SQRT_PI


def _erf_erfc_positive(z: Tensor) -> tuple[Tensor, Tensor]:
    """(erf(z), erfc(z)) for z >= 0, each to the relative accuracy of the dtype (the module
    docstring has the methods); one series and one tail evaluation serve both."""
    if _is64(z):
        far = z.maximum(2.0)  # the continued fraction of erfc, for z >= 2
        f = far
        for k in range(60, 0, -1):
            f = far + (k * 0.5) / f
        tail = (-(far * far)).exp() * (1.0 / math.sqrt(math.pi)) / f
        series = _erf_series(z.minimum(2.0), 50)
        near = z < 2.0
        return near._where(series, 1.0 - tail), near._where(1.0 - series, tail)
    t = (z * 0.5 + 1.0).reciprocal()
    poly = t * _ERFC_NR[-1]
    for c in reversed(_ERFC_NR[1:-1]):
        poly = (poly + c) * t
    tail = t * (poly + _ERFC_NR[0] - z * z).exp()
    series = _erf_series(z.minimum(0.5), 12)  # erf keeps its relative accuracy near 0
    near = z < 0.5
    return near._where(series, 1.0 - tail), near._where(1.0 - series, tail)


def erf_value(x: Tensor) -> Tensor:
    """erf without a graph (x float32 or float64)."""
    negative = x < 0
    value, _ = _erf_erfc_positive(negative._where(-x, x))
    return negative._where(-value, value)


def erfc_value(x: Tensor) -> Tensor:
    """erfc without a graph (x float32 or float64)."""
    negative = x < 0
    _, value = _erf_erfc_positive(negative._where(-x, x))
    return negative._where(2.0 - value, value)


def erfinv_value(x: Tensor) -> Tensor:
    """erfinv without a graph: Giles' guess (relative error ~4e-7), then one Newton step on
    erf(y) = x, which squares that error (on erfc(y) = 1 - x near +-1, where 1 - x is exact
    and erf(y) would round to 1)."""
    a = x.abs()
    w = -((1.0 - a) * (1.0 + a)).log()
    central = _polyval(_ERFINV_CENTRAL, w - 2.5)
    tail = _polyval(_ERFINV_TAIL, w.maximum(5.0).sqrt() - 3.0)
    y = (w < 5.0)._where(central, tail) * a
    finite = a < 1.0
    y = finite._where(y, 1.0)  # the step is taken on finite values only
    slope = (-(y * y)).exp() * TWO_OVER_SQRT_PI
    erf_y, erfc_y = _erf_erfc_positive(y)
    residual = (a > 0.5)._where((1.0 - a) - erfc_y, erf_y - a)
    y = y - residual / slope
    y = finite._where(y, (a == 1.0)._where(float("inf"), float("nan")))
    return (x < 0)._where(-y, y)


def _sin_pi(x: Tensor) -> Tensor:
    """sin(pi x) from r = x - round(x) (exact, in [-1/2, 1/2]), so that large |x| and x near
    an integer keep their accuracy: sin(pi x) = (-1)^round(x) sin(pi r)."""
    n = (x + 0.5).floor()
    odd = (n * 0.5).floor() * 2.0 != n
    s = ((x - n) * math.pi).sin()
    return odd._where(-s, s)


def _tan_pi(x: Tensor) -> Tensor:
    """tan(pi x) = tan(pi r), r = x - round(x) (period 1)."""
    r = ((x - (x + 0.5).floor()) * math.pi)
    return r.sin() / r.cos()


def _lgamma_positive(x: Tensor) -> Tensor:
    """lgamma for x > 0: shifted by SHIFT below SHIFT, then Stirling's series."""
    small = x < SHIFT
    z = small._where(x + SHIFT, x)
    product = x
    for k in range(1, SHIFT):
        product = product * (x + k)
    product = small._where(product, 1.0)  # the product overflows float32 for large x
    inv = z.reciprocal()
    inv2 = inv * inv
    series = inv2 * 0.0
    for k in range(len(_BERNOULLI), 0, -1):  # sum B_2k / (2k (2k-1) z^(2k-1))
        series = series * inv2 + _BERNOULLI[k - 1] / (2 * k * (2 * k - 1))
    stirling = (z - 0.5) * z.log() - z + 0.5 * math.log(2 * math.pi) + series * inv
    return stirling - product.log()


def lgamma_value(x: Tensor) -> Tensor:
    """log |Gamma(x)| without a graph: inf at the poles (0, -1, -2 ...), as PyTorch."""
    positive = x > 0
    safe = positive._where(x, 1.0 - x)  # 1 - x > 1 for the reflected half
    base = _lgamma_positive(safe)
    reflected = (math.pi / _sin_pi(x).abs()).log() - base
    pole = (x <= 0) & (x == x.floor())
    value = positive._where(base, pole._where(float("inf"), reflected))
    value = ((x == 1.0) | (x == 2.0))._where(0.0, value)  # exact zeros, as PyTorch's
    return x.isinf()._where(float("inf"), value)


def _polygamma_positive(n: int, x: Tensor) -> Tensor:
    """psi^(n)(x) for x > 0 (n >= 0): recurrence to x + SHIFT, then the asymptotic series."""
    z = x + SHIFT
    inv = z.reciprocal()
    inv2 = inv * inv
    if n == 0:
        series = inv2 * 0.0
        for k in range(len(_BERNOULLI), 0, -1):  # sum B_2k / (2k z^2k)
            series = series * inv2 + _BERNOULLI[k - 1] / (2 * k)
        value = z.log() - inv * 0.5 - series * inv2
        for k in range(SHIFT):
            value = value - (x + k).reciprocal()
        return value
    # (-1)^(n+1) [ (n-1)!/z^n + n!/(2 z^(n+1)) + sum B_2k (2k+n-1)!/(2k)! / z^(2k+n) ]
    series = inv2 * 0.0
    for k in range(len(_BERNOULLI), 0, -1):
        series = series * inv2 + _BERNOULLI[k - 1] * math.factorial(2 * k + n - 1) / \
            math.factorial(2 * k)
    zn = inv ** n
    total = zn * (math.factorial(n - 1) + inv * (math.factorial(n) / 2) + series * inv2)
    for k in range(SHIFT):
        total = total + (x + k).reciprocal() ** (n + 1) * math.factorial(n)
    return total if n % 2 else -total


def polygamma_value(n: int, x: Tensor) -> Tensor:
    """psi^(n)(x) without a graph. digamma: -inf at +0, +inf at -0, NaN at negative
    integers (PyTorch's). polygamma(n >= 1): +inf at the poles for odd n, -inf for even n,
    0 at +inf for n = 1 and NaN for n >= 2 (PyTorch's); for negative non-integer x the true
    value, where PyTorch's Hurwitz-zeta evaluation loses all accuracy for n >= 2."""
    positive = x > 0
    pole = (x <= 0) & (x == x.floor())
    if n == 0:
        base = _polygamma_positive(0, positive._where(x, 1.0 - x))
        reflected = base - math.pi / _tan_pi(x)  # psi(x) = psi(1 - x) - pi cot(pi x)
        # -inf at +0, +inf at -0 (the limits from each side), NaN at negative integers
        at_pole = (x == 0)._where(x.signbit()._where(float("inf"), float("-inf")),
                                  float("nan"))
        value = positive._where(base, pole._where(at_pole, reflected))
        return (x == float("inf"))._where(float("inf"), value)
    if n == 1:
        base = _polygamma_positive(1, positive._where(x, 1.0 - x))
        s = _sin_pi(x)
        reflected = (math.pi * math.pi) / (s * s) - base  # psi1(x) + psi1(1 - x) = pi^2/sin^2
        value = positive._where(base, pole._where(float("inf"), reflected))
        return x.isinf()._where((x > 0)._where(0.0, float("nan")), value)
    # n >= 2: psi^(n)(x) = (-1)^(n+1) n! sum_k (x+k)^-(n+1) holds for every non-integer x;
    # below 0 the sum needs as many explicit terms as it takes to reach x + k > 0, which
    # depends on the data (read on the host).
    ordinary = x.isfinite() & ~pole
    low = float(ordinary._where(x, 1.0).amin().item()) if x.numel() else 1.0
    steps = 0 if low >= 0 else int(math.ceil(-low)) + 1
    if steps > 100000:
        raise ArgumentError(f"polygamma: n={n} at x={low} would need {steps} terms; "
                            "|x| below 1e5 is supported for negative x")
    shifted = x + steps
    value = _polygamma_positive(n, shifted)
    sign = 1.0 if n % 2 else -1.0
    for k in range(steps):
        value = value + (x + k).reciprocal() ** (n + 1) * (sign * math.factorial(n))
    at_pole = float("inf") if n % 2 else float("-inf")  # PyTorch's values at the poles
    value = pole._where(at_pole, value)
    return x.isinf()._where(float("nan"), value)  # PyTorch's NaN at both infinities


class _Special(Function):
    """A special function whose value is computed without a graph and whose derivative is
    given in closed form by ``derivative`` (itself differentiable)."""

    def forward(self, x: Tensor, kind: str, n: int = 0) -> Tensor:
        self.saved, self.kind, self.n = x, kind, n
        with set_grad_enabled(False):
            value = _VALUES[kind](x.detach(), n)
        self.value = value
        return value

    def saved_tensors(self) -> tuple[Tensor, ...]:
        return (self.saved,)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, kind = self.saved, self.kind
        if kind == "erf":
            slope = (-(x * x)).exp() * TWO_OVER_SQRT_PI
        elif kind == "erfc":
            slope = (-(x * x)).exp() * -TWO_OVER_SQRT_PI
        elif kind == "erfinv":
            y = self.value
            slope = (y * y).exp() * (math.sqrt(math.pi) / 2)
        elif kind == "lgamma":
            slope = x.digamma()
        else:  # polygamma(n)
            slope = x.polygamma(self.n + 1)
        return (grad * slope,)


_VALUES = {
    "erf": lambda x, n: erf_value(x),
    "erfc": lambda x, n: erfc_value(x),
    "erfinv": lambda x, n: erfinv_value(x),
    "lgamma": lambda x, n: lgamma_value(x),
    "polygamma": lambda x, n: polygamma_value(n, x),
}


def _apply(x: Tensor, kind: str, n: int = 0) -> Tensor:
    wide, out_dtype = _wide(x)
    out = _Special.apply(wide, kind=kind, n=n)
    return out if out.dtype is out_dtype else out.to(out_dtype)


class SpecialOps:
    """Mixed into Tensor."""

    __slots__ = ()

    def erf(self: Tensor) -> Tensor:
        """The error function (gradient 2/sqrt(pi) exp(-x^2))."""
        return _apply(self, "erf")

    def erfc(self: Tensor) -> Tensor:
        """1 - erf(x), accurate where erf(x) is near 1 (gradient -2/sqrt(pi) exp(-x^2))."""
        return _apply(self, "erfc")

    def erfinv(self: Tensor) -> Tensor:
        """The inverse error function on [-1, 1] (+-inf at +-1, NaN outside; gradient
        sqrt(pi)/2 exp(erfinv(x)^2))."""
        return _apply(self, "erfinv")

    def lgamma(self: Tensor) -> Tensor:
        """log |Gamma(x)| (inf at 0, -1, -2 ...; gradient digamma(x))."""
        return _apply(self, "lgamma")

    def digamma(self: Tensor) -> Tensor:
        """The logarithmic derivative of Gamma (-inf at 0, NaN at negative integers;
        gradient polygamma(1, x))."""
        return _apply(self, "polygamma", 0)

    def polygamma(self: Tensor, n: int) -> Tensor:
        """The n-th derivative of digamma (``torch.polygamma(n, x)`` / ``x.polygamma(n)``).

        Raises:
            ArgumentError: if n is not a non-negative integer.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ArgumentError(f"polygamma: n must be a non-negative integer, got {n!r}")
        return _apply(self, "polygamma", n)


def polygamma(n: int, input: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``torch.polygamma(n, input)``: the n-th derivative of digamma."""
    return input.polygamma(n)


# --- the ``zili.special`` namespace (torch.special's names) ---------------------------------

def erf(input: Tensor) -> Tensor:  # noqa: A002
    """``torch.special.erf``."""
    return input.erf()


def erfc(input: Tensor) -> Tensor:  # noqa: A002
    """``torch.special.erfc``."""
    return input.erfc()


def erfinv(input: Tensor) -> Tensor:  # noqa: A002
    """``torch.special.erfinv``."""
    return input.erfinv()


def gammaln(input: Tensor) -> Tensor:  # noqa: A002
    """``torch.special.gammaln``: log |Gamma(x)|."""
    return input.lgamma()


def digamma(input: Tensor) -> Tensor:  # noqa: A002
    """``torch.special.digamma``."""
    return input.digamma()


psi = digamma


def ndtr(input: Tensor) -> Tensor:  # noqa: A002
    """The standard normal CDF, erfc(-x / sqrt(2)) / 2."""
    return (input * (-1.0 / math.sqrt(2.0))).erfc() * 0.5


def ndtri(input: Tensor) -> Tensor:  # noqa: A002
    """The inverse of :func:`ndtr`, sqrt(2) erfinv(2p - 1)."""
    return (input * 2.0 - 1.0).erfinv() * math.sqrt(2.0)


def expit(input: Tensor) -> Tensor:  # noqa: A002
    """``torch.special.expit``: the logistic sigmoid."""
    return input.sigmoid()


def exp2(input: Tensor) -> Tensor:  # noqa: A002
    """2 ** x."""
    return input.exp2()


def expm1(input: Tensor) -> Tensor:  # noqa: A002
    """exp(x) - 1."""
    return input.expm1()


def log1p(input: Tensor) -> Tensor:  # noqa: A002
    """log(1 + x)."""
    return input.log1p()


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:  # noqa: A002
    """log(sum(exp(x))) over ``dim``."""
    return input.logsumexp(dim, keepdim)


def softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:  # noqa: A002
    """softmax along ``dim``."""
    return (input if dtype is None else input.to(dtype)).softmax(dim)


def log_softmax(input: Tensor, dim: int, dtype: Any = None) -> Tensor:  # noqa: A002
    """log_softmax along ``dim``."""
    return (input if dtype is None else input.to(dtype)).log_softmax(dim)


__all__ = ["digamma", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln", "log1p",
           "log_softmax", "logsumexp", "ndtr", "ndtri", "polygamma", "psi", "softmax"]
