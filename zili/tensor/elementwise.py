"""Elementwise methods of Tensor: operators, math functions and comparisons.

Each is one primitive or a short composition of primitives, so gradients come from the
primitives' rules. Exponentials are built on EXP2/LOG2.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from zili import dtype as dtypes
from zili.errors import ArgumentError
from zili.ops import Op
from zili.tensor import functions as F
from zili.tensor import math_ops, power

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

LOG2_E = 1.0 / math.log(2.0)
LN_2 = math.log(2.0)


def _float(x: Tensor) -> Tensor:
    """Integers and bools become the default float before transcendental functions."""
    return x if x.dtype.is_floating_point else x.to(dtypes.default_float)


class ElementwiseOps:
    """Mixed into Tensor."""

    __slots__ = ()

    # --- arithmetic operators -------------------------------------------------------------

    def __add__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.ADD, other)

    def __radd__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.ADD, other, reverse=True)

    def __sub__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.SUB, other)

    def __rsub__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.SUB, other, reverse=True)

    def __mul__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.MUL, other)

    def __rmul__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.MUL, other, reverse=True)

    def __truediv__(self: Tensor, other: Any) -> Tensor:
        if _is_number(other) and not self.dtype.is_floating_point:
            return _float(self) / other  # the number must not wrap into the integer type
        a, b = self._operands(other, "div")
        if not a.dtype.is_floating_point:
            a, b = _float(a), _float(b)
        return F.Div.apply(a, b)

    def __rtruediv__(self: Tensor, other: Any) -> Tensor:
        if isinstance(other, (int, float)) and not isinstance(other, bool) and \
                self.dtype.is_floating_point:
            # PyTorch's number / tensor: reciprocal(tensor) * number. Its backward reads the
            # saved result, not the input, so modifying the input in place later is fine.
            out = F.Reciprocal.apply(self)
            return out if other == 1 else out * other
        if _is_number(other) and not self.dtype.is_floating_point:
            return other / _float(self)  # the number must not wrap into the integer type
        a, b = self._operands(other, "div", reverse=True)
        if not a.dtype.is_floating_point:
            a, b = _float(a), _float(b)
        return F.Div.apply(a, b)

    def __floordiv__(self: Tensor, other: Any) -> Tensor:
        return self.div(other, rounding_mode="floor")

    def __mod__(self: Tensor, other: Any) -> Tensor:
        return self.remainder(other)  # MOD with PyTorch's gradients (math_ops)

    def __neg__(self: Tensor) -> Tensor:
        dtypes.check_supported("neg", self.dtype)  # none for bool (use ~) and uint16/32/64
        return F.Neg.apply(self)

    def __pow__(self: Tensor, exponent: Any) -> Tensor:
        return self.pow(exponent)

    def __rpow__(self: Tensor, base: Any) -> Tensor:
        from zili.tensor.creation import full
        return full(self.shape, base, dtype=dtypes.result_type(self, base),
                    device=self.device).pow(self)

    def __matmul__(self: Tensor, other: Tensor) -> Tensor:
        return self.matmul(other)

    def __rmatmul__(self: Tensor, other: Tensor) -> Tensor:
        return other.matmul(self)

    # --- bitwise / logical ----------------------------------------------------------------

    def __and__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.AND, other)

    def __or__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.OR, other)

    def __xor__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.XOR, other)

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def __invert__(self: Tensor) -> Tensor:
        if self.dtype is dtypes.bool_:
            return self._binary(Op.XOR, True)
        dtypes.check_supported("bitwise_not", self.dtype)
        return self._binary(Op.XOR, -1)  # all bits set (-1 wraps to 255 in a uint8)

    def logical_not(self: Tensor) -> Tensor:
        """Elementwise not, as bool."""
        return self.bool().__invert__()

    # --- comparisons ----------------------------------------------------------------------

    def __lt__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.CMPLT, other)

    def __gt__(self: Tensor, other: Any) -> Tensor:
        return self._binary(Op.CMPLT, other, reverse=True)

    # Not ~(a > b): every comparison with NaN is False, a <= NaN included.
    def __le__(self: Tensor, other: Any) -> Tensor:
        return (self < other) | (self == other)

    def __ge__(self: Tensor, other: Any) -> Tensor:
        return (self > other) | (self == other)

    def __eq__(self: Tensor, other: Any) -> Tensor:  # type: ignore[override]
        return self._binary(Op.CMPEQ, other)

    def __ne__(self: Tensor, other: Any) -> Tensor:  # type: ignore[override]
        return self._binary(Op.CMPEQ, other).__invert__()

    lt, gt, le, ge, eq, ne = __lt__, __gt__, __le__, __ge__, __eq__, __ne__

    # --- named arithmetic -----------------------------------------------------------------

    def add(self: Tensor, other: Any, alpha: Any = 1) -> Tensor:
        """self + alpha * other."""
        return self + (other * alpha if alpha != 1 else other)

    def sub(self: Tensor, other: Any, alpha: Any = 1) -> Tensor:
        """self - alpha * other."""
        return self - (other * alpha if alpha != 1 else other)

    def mul(self: Tensor, other: Any) -> Tensor:
        """self * other."""
        return self * other

    def div(self: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        """self / other: true division, or rounded 'trunc' / 'floor' (integers stay integer,
        floats get a zero gradient), as PyTorch.

        Raises:
            ValueError: for another rounding_mode.
        """
        if rounding_mode is None:
            return self / other
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                             f"{rounding_mode!r}")
        a, b = self._operands(other, f"div(rounding_mode={rounding_mode!r})")
        if a.dtype.is_floating_point:
            quotient = a / b
            if rounding_mode == "trunc":
                return quotient.trunc()
            # PyTorch's (and Python's) floor division goes through fmod, not floor(a / b):
            # 1 // 0.1 is 9 (a / b rounds up to 10), inf // 1 is nan. Its gradient is zero,
            # which the selected floor(a / b) branch carries.
            exact = _floor_division(a.detach(), b.detach())
            return exact._scalar(True, dtypes.bool_, exact.shape)._where(exact,
                                                                         quotient.floor())
        math_ops.refuse_zero_divisor(b, f"div(rounding_mode={rounding_mode!r})")
        floored = F.Div.apply(a, b)  # the integer DIV primitive floors
        if rounding_mode == "floor":
            return floored
        inexact = (floored * b) != a
        return (inexact & ((a < 0) != (b < 0)))._where(floored + 1, floored)

    def maximum(self: Tensor, other: Any) -> Tensor:
        """Elementwise maximum."""
        return self._binary(Op.MAX, other)

    def minimum(self: Tensor, other: Any) -> Tensor:
        """Elementwise minimum."""
        a, b = self._operands(other, "minimum")
        dtypes.check_supported("minimum", a.dtype)
        if a.dtype is dtypes.bool_:
            return a & b
        if not a.dtype.is_floating_point:  # ~ reverses integer order exactly; - overflows
            return ~F.Maximum.apply(~a, ~b)
        return -F.Maximum.apply(-a, -b)

    def where(self: Tensor, condition: Any, other: Any) -> Tensor:
        """Self where the bool ``condition`` is True, else ``other`` (PyTorch's
        ``Tensor.where``, i.e. ``torch.where(condition, self, other)``).

        Raises:
            TypeError: if ``condition`` is not a bool tensor.
        """
        return where(condition, self, other)

    def _where(self: Tensor, a: Any, b: Any) -> Tensor:
        """``a`` where self (a bool condition) is True, else ``b``: ``torch.where(self, a,
        b)``, the form zili's own code uses."""
        from zili.tensor.tensor import Tensor, broadcast_shape
        if self.dtype is not dtypes.bool_:
            raise TypeError(f"where: the condition must be bool, got {self.dtype.name}")
        a_tensor, b_tensor = isinstance(a, Tensor), isinstance(b, Tensor)
        anchor = a if a_tensor else b if b_tensor else self
        dtype = dtypes.result_type(a, b, op="where")
        if a_tensor and a.dtype is not dtype:
            a = a.to(dtype)
        if b_tensor and b.dtype is not dtype:
            b = b.to(dtype)
        shape = broadcast_shape(self.shape, *[x.shape for x in (a, b) if isinstance(x, Tensor)],
                                op="where")
        # numbers become constants of the final shape directly (no expand record)
        a = a.expand(shape) if a_tensor else anchor._scalar(a, dtype, shape)
        b = b.expand(shape) if b_tensor else anchor._scalar(b, dtype, shape)
        return F.Where.apply(self.expand(shape), a, b)

    def masked_fill(self: Tensor, mask: Tensor, value: Any) -> Tensor:
        """self with ``value`` wherever the bool ``mask`` is True."""
        if mask.dtype is not dtypes.bool_:
            raise TypeError(f"masked_fill: mask must be bool, got {mask.dtype.name}")
        dtypes.check_supported("masked_fill", self.dtype)
        return mask._where(self._scalar(value), self).expand(self.shape)

    # --- math -----------------------------------------------------------------------------

    def exp2(self: Tensor) -> Tensor:
        """2 ** self."""
        return F.Exp2.apply(_float(self))

    def log2(self: Tensor) -> Tensor:
        """Base-2 logarithm."""
        return F.Log2.apply(_float(self))

    def exp(self: Tensor) -> Tensor:
        """e ** self."""
        x = _float(self)
        # x * log2(e) straight to the MUL primitive (a float tensor times a float needs
        # no promotion or broadcasting): exp is two primitives, this one without the
        # operator's dispatch
        return F.Exp2.apply(F.Mul.apply(x, x._scalar(LOG2_E, x.dtype, x.shape)))

    def log(self: Tensor) -> Tensor:
        """Natural logarithm."""
        return F.Log2.apply(_float(self)) * LN_2

    def sin(self: Tensor) -> Tensor:
        """Sine."""
        return F.Sin.apply(_float(self))

    def cos(self: Tensor) -> Tensor:
        """Cosine, accurate at large |x| (:func:`zili.tensor.functions.cos_value`)."""
        return F.Cos.apply(_float(self))

    def sqrt(self: Tensor) -> Tensor:
        """Square root."""
        return F.Sqrt.apply(_float(self))

    def rsqrt(self: Tensor) -> Tensor:
        """1 / sqrt(self)."""
        return F.Reciprocal.apply(F.Sqrt.apply(_float(self)))

    def reciprocal(self: Tensor) -> Tensor:
        """1 / self."""
        return F.Reciprocal.apply(_float(self))

    def square(self: Tensor) -> Tensor:
        """self * self."""
        dtypes.check_supported("square", self.dtype)  # PyTorch's pow: none for uint16/32/64
        return self * self

    def abs(self: Tensor) -> Tensor:
        """Absolute value."""
        dtypes.check_supported("abs", self.dtype)
        if not self.dtype.is_signed:
            return self
        # max(x, -x): MAX splits a tie's gradient, so d|x|/dx is 0 at 0, as in PyTorch.
        # Adding +0 turns the -0.0 that max(-0.0, +0.0) may give into +0.0 (abs(-0.0) is
        # +0.0); it leaves every other value, NaN included, unchanged.
        out = self.maximum(-self)
        return out + 0.0 if self.dtype.is_floating_point else out

    def sign(self: Tensor) -> Tensor:
        """-1, 0 or 1 by sign (NaN stays NaN); a zero gradient for floats, as PyTorch."""
        dtypes.check_supported("sign", self.dtype)
        if self.dtype.is_floating_point:
            return math_ops.Rounding.apply(self, kind="sign")
        return (self > 0).to(self.dtype) - (self < 0).to(self.dtype)

    def relu(self: Tensor) -> Tensor:
        """max(self, 0) with gradient 0 at 0; NaN stays NaN (value and gradient), as in
        PyTorch."""
        keep = self > 0
        if self.dtype.is_floating_point:
            keep = keep | (self != self)
        return keep._where(self, 0)

    def sigmoid(self: Tensor) -> Tensor:
        """1 / (1 + exp(-self)); the exponent is capped at 2**126 so that very negative
        inputs give 0 with a zero gradient instead of inf * 0 = NaN."""
        return (1 + capped_exp2(self * -LOG2_E)).reciprocal()

    def tanh(self: Tensor) -> Tensor:
        """Hyperbolic tangent, as 2 * sigmoid(2x) - 1."""
        return 2 * (2 * self).sigmoid() - 1

    def pow(self: Tensor, exponent: Any) -> Tensor:
        """self ** exponent with PyTorch's promotion, edge values and gradients
        (:func:`zili.tensor.power.pow`)."""
        return power.pow(self, exponent)

    def clamp(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """Limit values to [min, max].

        Raises:
            ArgumentError: if both bounds are None (as PyTorch).
        """
        if min is None and max is None:
            raise ArgumentError("clamp: at least one of min and max must be given")
        dtypes.check_supported("clamp", self.dtype)
        out = self
        if any(isinstance(b, float) and b != b for b in (min, max)):
            return (out == out)._where(float("nan"), out)  # a NaN bound gives NaN (PyTorch)
        if min is not None:
            out = (out < min)._where(min, out) if not _is_tensor(min) else out.maximum(min)
        if max is not None:
            out = (out > max)._where(max, out) if not _is_tensor(max) else out.minimum(max)
        return out

    clip = clamp

    def lerp(self: Tensor, end: Tensor, weight: Any) -> Tensor:
        """self + weight * (end - self)."""
        return self + (end - self) * weight

    def isnan(self: Tensor) -> Tensor:
        """True where the value is NaN."""
        return (self == self).__invert__()

    def isinf(self: Tensor) -> Tensor:
        """True where the value is +-inf."""
        return self.abs() == float("inf") if self.dtype.is_floating_point else self != self

    def isfinite(self: Tensor) -> Tensor:
        """True where the value is neither NaN nor infinite."""
        return (self.isnan() | self.isinf()).__invert__()


def where(condition: Tensor, input: Any, other: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
    """``input`` where the bool ``condition`` is True, else ``other`` (``torch.where``);
    tensors and numbers broadcast and promote together.

    Raises:
        TypeError: if ``condition`` is not a bool tensor.
    """
    if not hasattr(condition, "_storage") or condition.dtype is not dtypes.bool_:
        got = condition.dtype.name if hasattr(condition, "dtype") else type(condition).__name__
        raise TypeError(f"where: the condition must be bool, got {got}; "
                        "Tensor.where(condition, other) selects self where condition holds")
    return condition._where(input, other)


def _floor_division(a: Tensor, b: Tensor) -> Tensor:
    """Floating floor division as PyTorch computes it: from the remainder, (a - fmod(a, b)) / b
    moved down by one where the remainder's sign differs from b's, then rounded to the
    nearest whole number (it is one up to rounding); a zero quotient keeps the sign of a / b,
    and b = 0 gives a / b."""
    mod = a.fmod(b)
    quotient = (a - mod) / b
    quotient = ((mod != 0) & ((b < 0) != (mod < 0)))._where(quotient - 1, quotient)
    floored = quotient.floor()
    floored = (quotient - floored > 0.5)._where(floored + 1, floored)
    ratio = a / b
    signed_zero = ratio.signbit()._where(ratio._scalar(-0.0), ratio._scalar(0.0))
    return (b == 0)._where(ratio, (quotient != 0)._where(floored, signed_zero))


def capped_exp2(x: Tensor) -> Tensor:
    """2**min(x, 126): finite in every float dtype, and the cap's gradient is zero."""
    x = _float(x)
    return (x > 126.0)._where(126.0, x).exp2()


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, (bool, np.bool_))


def _is_tensor(x: Any) -> bool:
    from zili.tensor.tensor import Tensor
    return isinstance(x, Tensor)
