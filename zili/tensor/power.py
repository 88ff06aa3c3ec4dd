"""``pow`` with PyTorch's dtypes, edge values and gradients.

Floating-point powers are one autograd node (:class:`Pow`) whose forward and backward are
compositions of primitives (|x| ** p as exp2(p * log2|x|), then the sign rules), so every
device runs them. Its backward is PyTorch's: ``p * x ** (p - 1)`` (0 where p == 0) for the
base and ``x ** p * log(x)`` (0 where x == 0 and p >= 0) for the exponent, so the
gradients at 0, at -inf and at negative bases with fractional exponents (NaN) agree.
Integer powers stay exact: repeated squaring in integer arithmetic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zili import dtype as dtypes
from zili.errors import ArgumentError
from zili.tensor.autograd import Function, set_grad_enabled

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

_INF = float("inf")


def power_value(x: Tensor, p: Tensor) -> Tensor:
    """x ** p for floating-point tensors of one shape and dtype, as C's ``pow`` gives it
    (``x ** 0 == 1`` and ``1 ** p == 1`` even for NaN and inf; a negative finite base with a
    fractional exponent is NaN; ``(-inf) ** 0.3 == inf``). Records no graph."""
    with set_grad_enabled(False):
        zero = x == 0.0
        negative = (x < 0) | (zero & (x.reciprocal() < 0))  # -0.0 counts: (-0.) ** -1 = -inf
        magnitude = (negative._where(-x, x).log2() * p).exp2()
        whole = (p % 1.0) == 0.0
        odd = whole & ((p % 2.0) == 1.0)
        fractional = ((x == -_INF) | zero)._where(magnitude, float("nan"))
        signed = whole._where(odd._where(-magnitude, magnitude), fractional)
        value = negative._where(signed, magnitude)
        return ((p == 0.0) | (x == 1.0))._where(1.0, value)


class Pow(Function):
    """x ** p elementwise (float operands of one shape), with PyTorch's gradients."""

    def forward(self, x: Tensor, p: Tensor, root: bool = False) -> Tensor:
        # root: p is -0.5 and the value is rsqrt, as PyTorch computes it (it differs from
        # C's pow at -inf and -0.0); the gradient is pow's, as in PyTorch.
        if root:
            with set_grad_enabled(False):
                out = x.rsqrt()
        else:
            out = power_value(x, p)
        self.saved = (x, p, out)
        return out

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, p, out = self.saved
        grad_x = grad_p = None
        if x.requires_grad:
            slope = p * power_value(x, p - 1.0)
            grad_x = grad * (p == 0.0)._where(0.0, slope)
        if p.requires_grad:
            flat = (x == 0.0) & (p >= 0.0)
            grad_p = grad * flat._where(0.0, out * x.log())
        return (grad_x, grad_p)


def _integer_power(x: Tensor, exponent: Any) -> Tensor:
    """Exact x ** exponent for integer tensors by repeated squaring (wraps like C)."""
    from zili.tensor.tensor import Tensor
    if isinstance(exponent, Tensor):
        if exponent.numel() and int(exponent.min().item()) < 0:
            raise ArgumentError("pow: integers to negative integer powers are not allowed "
                             f"(exponent tensor of dtype {exponent.dtype.name} holds a "
                             "negative value); cast the base to float first")
        top = int(exponent.max().item()) if exponent.numel() else 0
        result, square, e = x * 0 + 1, x, exponent
        while top:
            result = ((e % 2) == 1)._where(result * square, result)
            square, e, top = square * square, e // 2, top // 2
        return result
    e = int(exponent)
    if e < 0:
        raise ArgumentError(f"pow: integers to negative integer powers are not allowed "
                         f"(tensor of dtype {x.dtype.name} ** {exponent}); cast the base to "
                         "float first")
    result, square = None, x
    while True:
        if e & 1:
            result = square if result is None else result * square
        e >>= 1
        if not e:
            break
        square = square * square
    return x * 0 + 1 if result is None else result


def pow(x: Tensor, exponent: Any) -> Tensor:  # noqa: A001 (PyTorch's name)
    """x ** exponent with PyTorch's promotion: int ** int stays an exact integer, anything
    with a float gives a float.

    Raises:
        ArgumentError: for an integer base raised to a negative integer power (as PyTorch).
        TypeError: for an exponent that is neither a tensor nor a Python number.
    """
    from zili.tensor.tensor import Tensor
    if not isinstance(exponent, (Tensor, int, float, bool)):
        raise TypeError(f"pow: unsupported exponent type {type(exponent).__name__}")
    dtype = dtypes.result_type(x, exponent)
    if dtype is dtypes.bool_:
        dtype = dtypes.int64
    base = x if x.dtype is dtype else x.to(dtype)
    if not dtype.is_floating_point:
        dtypes.check_supported("pow", dtype)
        if isinstance(exponent, Tensor):
            exponent = exponent.to(dtype)
            shape = _broadcast(base, exponent)
            return _integer_power(base.expand(shape), exponent.expand(shape))
        return _integer_power(base, exponent)
    if not isinstance(exponent, Tensor):
        # Short products are exact and fuse; their gradients match PyTorch's everywhere.
        if exponent == 1:
            return base * 1
        if exponent == 2:
            return base * base
        if exponent == 3:
            return base * base * base
        if exponent == -1:
            return base.reciprocal()
        if exponent == 0.5:  # PyTorch's pow(x, 0.5) is sqrt, value and gradient
            return base.sqrt()
        return Pow.apply(base, base._scalar(float(exponent), dtype, base.shape),
                         root=exponent == -0.5)
    p = exponent if exponent.dtype is dtype else exponent.to(dtype)
    shape = _broadcast(base, p)
    return Pow.apply(base.expand(shape), p.expand(shape))


def _broadcast(a: Tensor, b: Tensor) -> tuple[int, ...]:
    from zili.tensor.tensor import broadcast_shape
    return broadcast_shape(a.shape, b.shape, op="pow")
