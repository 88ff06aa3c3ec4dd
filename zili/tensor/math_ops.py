"""More elementwise math and scans on Tensor, each composed of primitives: rounding,
trigonometric and hyperbolic functions and their inverses, ``copysign``, ``div`` with a
rounding mode, shifts, ``isclose``, ``prod`` and the cumulative family.

Inverse trigonometric functions have no primitive: ``atan`` starts from a rational
approximation and takes three Newton steps on tan(y) = x with the SIN primitive (quadratic
convergence: 5e-3 -> 1e-5 -> 1e-10 -> below float64 rounding), and its gradient is the exact
1 / (1 + x^2) of a custom node. Scans (cumsum, cumprod, cummax, logcumsumexp) take
log2(n) steps of "combine with the value 2^k places back" through pad/shrink views.
"""

from __future__ import annotations

import math
from collections import namedtuple
from typing import TYPE_CHECKING, Any

from zili import dtype as dtypes
from zili.compiler import capture
from zili.errors import ArgumentError, IntegerDivisionError
from zili.ops import Op
from zili.tensor import functions as F
from zili.tensor.aliases import dim_aliases
from zili.tensor.autograd import Function, set_grad_enabled

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

HALF_PI = math.pi / 2
CumResult = namedtuple("CumResult", ["values", "indices"])


def _float(x: Tensor) -> Tensor:
    return x if x.dtype.is_floating_point else x.to(dtypes.default_float)


def _floor(x: Tensor) -> Tensor:
    """floor for floats: x - (x mod 1) is exact; inf and NaN pass through. No graph."""
    with set_grad_enabled(False):
        x = x.detach()
        return x.isfinite()._where(x - (x % 1.0), x)


class Rounding(Function):
    """A piecewise-constant rounding: the value from ``kind``, a zero gradient (PyTorch)."""

    def forward(self, x: Tensor, kind: str, decimals: int = 0) -> Tensor:
        with set_grad_enabled(False):
            x = x.detach()
            if kind == "floor":
                return _floor(x)
            if kind == "sign":
                return (x > 0).to(x.dtype) - (x < 0).to(x.dtype) + (x != x).to(x.dtype) * x
            if kind == "ceil":
                return -_floor(-x)
            if kind == "trunc":
                return (x < 0)._where(-_floor(-x), _floor(x))
            scale = 10.0 ** decimals
            y = x * scale if decimals else x
            low = _floor(y)
            diff = y - low
            odd = (low % 2.0) == 1.0
            up = (diff > 0.5) | ((diff == 0.5) & odd)  # half to even, as PyTorch
            rounded = up._where(low + 1.0, low)
            return rounded / scale if decimals else rounded

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad * 0.0,)


class _Atan(Function):
    """atan(x); backward 1 / (1 + x^2)."""

    def forward(self, x: Tensor) -> Tensor:
        self.saved = x
        with set_grad_enabled(False):
            return atan_value(x.detach())

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        x = self.saved
        return (grad / (x * x + 1.0),)


def _const(x: Tensor, value: float) -> Tensor:
    """``value`` in x's dtype and shape (a bare Python float would become float32)."""
    return x._scalar(value, x.dtype, x.shape)


def atan_value(x: Tensor) -> Tensor:
    """atan: reduce to r in [-1, 1] (atan x = +-pi/2 - atan(1/x) above 1), a rational first
    guess, three Newton steps on tan(y) = r. Records no graph."""
    big = x.abs() > 1.0
    r = big._where(x.reciprocal(), x)
    y = r / (r * r * 0.28 + 1.0)
    for _ in range(3):
        s = y.sin()
        c = F.cos_value(y)
        y = y - (s - r * c) * c
    half = (x > 0)._where(_const(x, HALF_PI), _const(x, -HALF_PI))
    return big._where(half - y, y)


class MathOps:
    """Mixed into Tensor."""

    __slots__ = ()

    # --- rounding ---------------------------------------------------------------------------

    def _round_like(self: Tensor, kind: str, decimals: int = 0) -> Tensor:
        if not self.dtype.is_floating_point:
            return self * 1  # integers are already whole
        return Rounding.apply(self, kind=kind, decimals=decimals)

    def floor(self: Tensor) -> Tensor:
        """Largest whole number <= x (zero gradient)."""
        return self._round_like("floor")

    def ceil(self: Tensor) -> Tensor:
        """Smallest whole number >= x (zero gradient)."""
        return self._round_like("ceil")

    def trunc(self: Tensor) -> Tensor:
        """x rounded toward zero (zero gradient)."""
        return self._round_like("trunc")

    fix = trunc

    def round(self: Tensor, decimals: int = 0) -> Tensor:
        """x rounded half to even (to ``decimals`` places), zero gradient, as PyTorch."""
        return self._round_like("round", decimals)

    def frac(self: Tensor) -> Tensor:
        """x - trunc(x) (gradient 1)."""
        return self - self.trunc()

    # --- exponentials, trigonometry -----------------------------------------------------

    def log10(self: Tensor) -> Tensor:
        """Base-10 logarithm."""
        return _float(self).log2() * math.log10(2.0)

    def log1p(self: Tensor) -> Tensor:
        """log(1 + x), accurate for small x (the rounding of 1 + x is corrected)."""
        x = _float(self)
        u = x + 1.0
        d = u - 1.0
        small = d == 0.0
        corrected = u.log() * (x / small._where(1.0, d))
        return small._where(x, (u == float("inf"))._where(u.log(), corrected))

    def expm1(self: Tensor) -> Tensor:
        """exp(x) - 1, accurate for small x (Kahan's correction)."""
        x = _float(self)
        u = x.exp()
        um1 = u - 1.0
        small = um1 == 0.0
        log_u = (u == 1.0)._where(1.0, u).log()
        corrected = um1 * x / (small | (u == 1.0))._where(1.0, log_u)
        return small._where(x, (u == float("inf"))._where(u, (um1 == -1.0)._where(um1, corrected)))

    def tan(self: Tensor) -> Tensor:
        """Tangent, sin(x) / cos(x)."""
        x = _float(self)
        return x.sin() / x.cos()

    def atan(self: Tensor) -> Tensor:
        """Inverse tangent (Newton-refined; gradient 1 / (1 + x^2))."""
        return _Atan.apply(_float(self))

    arctan = atan

    def atan2(self: Tensor, other: Any) -> Tensor:
        """Angle of the point (other, self) in (-pi, pi], as PyTorch's atan2."""
        y, x = self._operands(other, "atan2")
        y, x = _float(y), _float(x)
        safe_x = (x == 0)._where(1.0, x)
        base = (y / safe_x).atan()
        below = y.signbit()  # -0.0 counts as below the axis, as in C's atan2
        half = below._where(_const(y, -math.pi), _const(y, math.pi))
        left = x.signbit()._where(base + half, base)
        axis = below._where(_const(y, -HALF_PI), _const(y, HALF_PI))
        axis = (y == 0)._where(below._where(_const(y, -0.0), 0.0), axis)
        # on the y axis: +-pi/2 with a gradient of -1/y in x (d atan2 / dx = -y / r^2)
        vertical = axis - x / (y == 0)._where(1.0, y)
        return (x == 0)._where(vertical, left)

    arctan2 = atan2

    def asin(self: Tensor) -> Tensor:
        """Inverse sine: atan2(x, sqrt(1 - x^2)); NaN outside [-1, 1]."""
        x = _float(self)
        root = (1.0 - x * x).sqrt()
        return (x.abs() > 1.0)._where(float("nan"), x.atan2(root))

    arcsin = asin

    def acos(self: Tensor) -> Tensor:
        """Inverse cosine: atan2(sqrt(1 - x^2), x); NaN outside [-1, 1]."""
        x = _float(self)
        root = (1.0 - x * x).sqrt()
        return (x.abs() > 1.0)._where(float("nan"), root.atan2(x))

    arccos = acos

    def sinh(self: Tensor) -> Tensor:
        """Hyperbolic sine, (e^x - e^-x) / 2 (expm1 near 0)."""
        x = _float(self)
        small = x.abs() < 1.0
        e = x.expm1()
        near = (e + e / (e + 1.0)) * 0.5
        far = (x.exp() - (-x).exp()) * 0.5
        return small._where(near, far)

    def cosh(self: Tensor) -> Tensor:
        """Hyperbolic cosine, (e^x + e^-x) / 2."""
        x = _float(self)
        return (x.exp() + (-x).exp()) * 0.5

    def asinh(self: Tensor) -> Tensor:
        """Inverse hyperbolic sine, sign(x) log(|x| + sqrt(x^2 + 1))."""
        x = _float(self)
        a = x.abs()
        big = a > 1e8
        safe = big._where(1.0, a)
        value = (safe + safe / ((safe * safe + 1.0).sqrt() + 1.0) * safe).log1p()
        value = big._where(a.log() + math.log(2.0), value)
        return (x < 0)._where(-value, value)

    arcsinh = asinh

    def acosh(self: Tensor) -> Tensor:
        """Inverse hyperbolic cosine, log(x + sqrt(x^2 - 1)); NaN below 1."""
        x = _float(self)
        big = x > 1e8
        safe = big._where(2.0, x)
        t = safe - 1.0
        value = (t + (t * t + 2.0 * t).sqrt()).log1p()
        return big._where(x.log() + math.log(2.0), value)

    arccosh = acosh

    def atanh(self: Tensor) -> Tensor:
        """Inverse hyperbolic tangent, log1p(2x / (1 - x)) / 2; +-inf at +-1."""
        x = _float(self)
        return (x * 2.0 / (1.0 - x)).log1p() * 0.5

    arctanh = atanh

    # --- signs, division ------------------------------------------------------------------

    def copysign(self: Tensor, other: Any) -> Tensor:
        """|self| with the sign of ``other`` (including -0.0)."""
        a, b = self._operands(other, "copysign")
        a, b = _float(a), _float(b)
        negative = (b < 0) | ((b == 0) & (b.reciprocal() < 0))
        magnitude = a.abs()
        return negative._where(-magnitude, magnitude)

    def signbit(self: Tensor) -> Tensor:
        """True where the sign bit is set (negative numbers and -0.0)."""
        if not self.dtype.is_floating_point:
            return self < 0
        return (self < 0) | ((self == 0) & (self.reciprocal() < 0))

    def sgn(self: Tensor) -> Tensor:
        """sign(x) (real tensors)."""
        return self.sign()

    def true_divide(self: Tensor, other: Any) -> Tensor:
        """self / other."""
        return self / other

    def floor_divide(self: Tensor, other: Any) -> Tensor:
        """floor(self / other) (floats) or floor division (integers)."""
        return self.div(other, rounding_mode="floor")

    def remainder(self: Tensor, other: Any) -> Tensor:
        """self % other with the divisor's sign; gradients 1 and -floor(self / other), as
        PyTorch."""
        a, b = self._operands(other, "remainder")
        refuse_zero_divisor(b, "remainder")
        return _with_quotient_grad(a, b, F.BINARY_FUNCTIONS[Op.MOD].apply(a, b), "floor")

    def fmod(self: Tensor, other: Any) -> Tensor:
        """C's remainder, with the dividend's sign."""
        a, b = self._operands(other, "fmod")
        refuse_zero_divisor(b, "fmod")
        # On magnitudes the divisor-signed remainder is C's, exactly; then take a's sign.
        r = a.abs() % b.abs()
        return _with_quotient_grad(a, b, a.signbit()._where(-r, r), "trunc")

    def __rmod__(self: Tensor, other: Any) -> Tensor:
        a, b = self._operands(other, "remainder", reverse=True)
        return a.remainder(b)

    def __rfloordiv__(self: Tensor, other: Any) -> Tensor:
        a, b = self._operands(other, "floor_divide", reverse=True)
        return a.div(b, rounding_mode="floor")

    def __lshift__(self: Tensor, other: Any) -> Tensor:
        return _shift(self, other, left=True)

    def __rshift__(self: Tensor, other: Any) -> Tensor:
        return _shift(self, other, left=False)

    def bitwise_left_shift(self: Tensor, other: Any) -> Tensor:
        """self << other for integer tensors."""
        return _shift(self, other, left=True)

    def bitwise_right_shift(self: Tensor, other: Any) -> Tensor:
        """self >> other (arithmetic shift) for integer tensors."""
        return _shift(self, other, left=False)

    def bitwise_not(self: Tensor) -> Tensor:
        """~self."""
        return ~self

    # --- comparisons ----------------------------------------------------------------------

    def isclose(self: Tensor, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
                equal_nan: bool = False) -> Tensor:
        """|self - other| <= atol + rtol * |other| elementwise (infinities equal only to
        themselves; NaN equal to NaN when ``equal_nan``), as PyTorch."""
        a, b = self._operands(other, "isclose")
        if not a.dtype.is_floating_point:
            a, b = a.to(dtypes.float64), b.to(dtypes.float64)
        same = a == b
        finite = a.isfinite() & b.isfinite()
        close = finite & ((a - b).abs() <= atol + rtol * b.abs())
        out = same | close
        return out | (a.isnan() & b.isnan()) if equal_nan else out

    def allclose(self: Tensor, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
                 equal_nan: bool = False) -> bool:
        """True when every element is close (:meth:`isclose`)."""
        return bool(self.isclose(other, rtol, atol, equal_nan).all().item())

    def equal(self: Tensor, other: Tensor) -> bool:
        """True when shapes and all values are equal."""
        return self.shape == other.shape and bool((self == other).all().item())

    # --- products and scans -----------------------------------------------------------------

    @dim_aliases
    def prod(self: Tensor, dim: int | None = None, keepdim: bool = False,
             dtype: Any = None) -> Tensor:
        """Product over ``dim`` (all elements if None): log2(n) halving multiplications, so
        integers stay exact and zeros get PyTorch's gradients. Bool/integers give int64."""
        x = self.to(dtypes.to_dtype(dtype)) if dtype is not None else self
        if dtype is None and not x.dtype.is_floating_point:
            x = x.to(dtypes.int64)
        if dim is None:
            x = x.reshape(-1)
            axis = 0
        else:
            axis = x._axis(dim)
        if x.ndim == 0:
            return x * 1
        while x.shape[axis] > 1:
            size = x.shape[axis]
            if size % 2:
                pad = tuple((0, 1) if i == axis else (0, 0) for i in range(x.ndim))
                one = x._scalar(1, x.dtype, x.shape).pad_axes(pad) == 0  # True at the pad
                x = one._where(x._scalar(1, x.dtype), x.pad_axes(pad))
                size += 1
            a = x.narrow(axis, 0, size // 2)
            b = x.narrow(axis, size // 2, size // 2)
            x = a * b
        if x.shape[axis] == 0:
            x = x._scalar(1, x.dtype, x.shape[:axis] + (1,) + x.shape[axis + 1:]) * 1
        if dim is None:
            return x.reshape(())
        return x if keepdim else x.squeeze(axis)

    def _scan(self: Tensor, dim: int, combine: Any, identity: float | None) -> Tensor:
        """Inclusive scan along ``dim`` with an associative ``combine`` (Hillis-Steele);
        ``identity`` fills in before the start (None: combine is idempotent)."""
        axis = self._axis(dim)
        if self.ndim == 0:
            return self * 1
        x = self
        size = x.shape[axis]
        step = 1
        while step < size:
            pad = tuple((step, 0) if i == axis else (0, 0) for i in range(x.ndim))
            bounds = tuple((0, size) if i == axis else (0, s) for i, s in enumerate(x.shape))
            shifted = x.pad_axes(pad).shrink(bounds)
            if identity is None or identity != 0:
                inside = x._scalar(True, dtypes.bool_, x.shape).pad_axes(pad).shrink(bounds)
                # None: an idempotent combine (max, min) pairs the head with itself
                shifted = inside._where(shifted, x if identity is None else identity)
            x = combine(x, shifted)
            step *= 2
        return x

    @dim_aliases
    def cumsum(self: Tensor, dim: int, dtype: Any = None) -> Tensor:
        """Running sum along ``dim`` (integers and bool in int64, as PyTorch)."""
        x = self.to(dtypes.to_dtype(dtype)) if dtype is not None else self
        if dtype is None and not x.dtype.is_floating_point:
            x = x.to(dtypes.int64)
        return x._scan(dim, lambda a, b: a + b, 0)

    @dim_aliases
    def cumprod(self: Tensor, dim: int, dtype: Any = None) -> Tensor:
        """Running product along ``dim``."""
        x = self.to(dtypes.to_dtype(dtype)) if dtype is not None else self
        if dtype is None and not x.dtype.is_floating_point:
            x = x.to(dtypes.int64)
        return x._scan(dim, lambda a, b: a * b, 1)

    @dim_aliases
    def logcumsumexp(self: Tensor, dim: int) -> Tensor:
        """log of the running sum of exp along ``dim``, combined pairwise stably."""
        def combine(a: Tensor, b: Tensor) -> Tensor:
            high = a.maximum(b).detach()
            high = high.isinf()._where(0.0, high)
            return ((a - high).exp() + (b - high).exp()).log() + high
        return _float(self)._scan(dim, combine, float("-inf"))

    def _cumulative_extreme(self: Tensor, dim: int, largest: bool) -> CumResult:
        from zili.tensor.creation import arange
        axis = self._axis(dim)
        x = self if self.dtype is not dtypes.bool_ else self.to(dtypes.uint8)
        data = x.detach()
        if largest:
            values = data._scan(dim, lambda a, b: a.maximum(b), None)
        else:
            values = data._scan(dim, lambda a, b: a.minimum(b), None)
        if self.ndim == 0:
            return CumResult(values, x._scalar(0, dtypes.int64).clone())
        shape = tuple(s if i == axis else 1 for i, s in enumerate(x.shape))
        positions = arange(x.shape[axis], device=x.device).reshape(shape).expand(x.shape)
        hit = (data == values) | (data.isnan() if x.dtype.is_floating_point else False)
        marked = hit._where(positions, -1)
        indices = marked._scan(dim, lambda a, b: a.maximum(b), None)
        # the values read at the indices, so the gradient goes to that one element (PyTorch)
        values = x.gather(axis, indices)
        if self.dtype is dtypes.bool_:
            values = values.bool()
        return CumResult(values, indices)

    def cummax(self: Tensor, dim: int) -> CumResult:
        """(running maximum, index of the last position holding it) along ``dim``."""
        dtypes.check_supported("cummax", self.dtype)
        return self._cumulative_extreme(dim, largest=True)

    def cummin(self: Tensor, dim: int) -> CumResult:
        """(running minimum, index of the last position holding it) along ``dim``."""
        dtypes.check_supported("cummin", self.dtype)
        return self._cumulative_extreme(dim, largest=False)


def _with_quotient_grad(a: Tensor, b: Tensor, value: Tensor, rounding: str) -> Tensor:
    """``value`` (a remainder a - q b) with PyTorch's gradients: 1 for a, -q for b, where
    q = a / b rounded by ``rounding``."""
    if not a.dtype.is_floating_point or not (a.requires_grad or b.requires_grad):
        return value
    q = a.detach().div(b.detach(), rounding_mode=rounding)
    return value.detach() + (a - a.detach()) - (b - b.detach()) * q


def _shift(x: Tensor, other: Any, left: bool) -> Tensor:
    """a << b as a * 2**b, a >> b as floor(a / 2**b), with PyTorch's out-of-range rule: a
    shift by a negative amount or by the width or more gives 0 (<<) or the sign fill (>>)."""
    a, b = x._operands(other, "bitwise_left_shift" if left else "bitwise_right_shift")
    if a.dtype.is_floating_point or a.dtype is dtypes.bool_:
        raise ArgumentError(f"shift: needs integer tensors, got {a.dtype.name}")
    bits = a.dtype.bits
    # 2**(bits-1) is negative in a signed type: a right shift that far is the sign fill too
    limit = bits if left or not a.dtype.is_signed else bits - 1
    outside = (b >= limit) | (b < 0) if a.dtype.is_signed else b >= limit
    amount = outside._where(0, b)
    # 2**amount from the bits of amount (< 64): no host read, so zili.jit can trace it
    factor = a._scalar(1, a.dtype, a.shape)
    for k in range((bits - 1).bit_length()):
        factor = ((amount // (1 << k)) % 2 == 1)._where(factor * (1 << (1 << k)), factor)
    if left:
        return outside._where(0, a * factor)
    return outside._where(-(a < 0).to(a.dtype) if a.dtype.is_signed else 0, a // factor)


def refuse_zero_divisor(b: Tensor, op: str) -> None:
    """Raise PyTorch's error for an integer divisor holding a zero. The check reads the
    divisor (one reduction and a wait); a traced plan cannot raise from inside its kernels,
    so under ``zili.jit`` it is skipped and such a quotient is 0.

    Raises:
        IntegerDivisionError: naming the op and the dtype.
    """
    if b.dtype.is_floating_point or capture.TRACING or b.numel() == 0:
        return
    if bool((b == 0).any().item()):
        raise IntegerDivisionError(f"ZeroDivisionError: {op}: integer ({b.dtype.name}) "
                                   "division by zero; make the divisor nonzero or divide "
                                   "floating-point tensors")
