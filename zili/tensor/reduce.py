"""Reductions and matrix products on Tensor: sum, mean, max, var, argmax, matmul ..."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zili import dtype as dtypes
from zili.errors import ShapeError
from zili.tensor import functions as F
from zili.tensor.aliases import dim_aliases
from zili.tensor.autocast import full_precision, lower_precision

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

Dim = int | Sequence[int] | None
MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _drop(x: Tensor, axes: tuple[int, ...], keepdim: bool) -> Tensor:
    if keepdim:
        return x
    # the primitive directly: the shape is valid by construction, and reshape's argument
    # checks were a fifth of a small sum's overhead
    shape = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    return F.Reshape.apply(x, shape=shape) if shape != x.shape else x


class ReduceOps:
    """Mixed into Tensor."""

    __slots__ = ()

    @dim_aliases
    def sum(self: Tensor, dim: Dim = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """Sum over ``dim`` (all axes if None); bool and integers sum in int64, as PyTorch."""
        x = self
        if dtype is not None:
            x = x.to(dtypes.to_dtype(dtype))
        elif x.dtype.is_floating_point:
            (x,) = full_precision(x)  # autocast: sums of float16/bfloat16 in float32
        elif x.dtype is not dtypes.int64:
            x = x.to(dtypes.int64)
        axes = x._axes(dim)
        if not axes:
            return x
        return _drop(F.Sum.apply(x, axes=axes), axes, keepdim)

    @dim_aliases
    def mean(self: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
        """Arithmetic mean over ``dim``.

        Raises:
            TypeError: for integer tensors (as PyTorch: cast to float first).
        """
        if not self.dtype.is_floating_point:
            raise TypeError(f"mean: needs a floating-point tensor, got {self.dtype.name}; "
                            "call .float() first")
        axes = self._axes(dim)
        count = 1
        for a in axes:
            count *= self.shape[a]
        return self.sum(axes, keepdim) * (1.0 / count if count else float("nan"))

    @dim_aliases
    def var(self: Tensor, dim: Dim = None, keepdim: bool = False, *, correction: int = 1,
            unbiased: bool | None = None) -> Tensor:
        """Variance over ``dim`` with Bessel's ``correction`` (1 by default, as PyTorch)."""
        if unbiased is not None:
            correction = int(unbiased)
        axes = self._axes(dim)
        count = 1
        for a in axes:
            count *= self.shape[a]
        centered = self - self.mean(axes, keepdim=True)
        return (centered * centered).sum(axes, keepdim) / max(count - correction, 0)

    @dim_aliases
    def std(self: Tensor, dim: Dim = None, keepdim: bool = False, *,
            correction: int = 1) -> Tensor:
        """Standard deviation over ``dim``."""
        return self.var(dim, keepdim, correction=correction).sqrt()

    @dim_aliases
    def amax(self: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
        """Maximum over ``dim`` (ties share the gradient)."""
        dtypes.check_supported("amax", self.dtype)
        axes = self._axes(dim)
        if any(self.shape[a] == 0 for a in axes):  # PyTorch: no identity for max
            raise RuntimeError(f"amax: cannot reduce an empty axis of a tensor of shape "
                               f"{self.shape}; give dim= over non-empty axes")
        if not axes:
            return self
        return _drop(F.Amax.apply(self, axes=axes), axes, keepdim)

    @dim_aliases
    def amin(self: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
        """Minimum over ``dim``."""
        dtypes.check_supported("amin", self.dtype)
        if self.dtype is dtypes.bool_:
            return self.to(dtypes.int64).amin(dim, keepdim).bool()
        if not self.dtype.is_floating_point:
            # ~x reverses the order of every integer type exactly; -x overflows at INT_MIN
            # and wraps for unsigned types.
            return ~(~self).amax(dim, keepdim)
        return -(-self).amax(dim, keepdim)

    @dim_aliases
    def max(self: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
        """The overall maximum, or (values, indices) along ``dim``, or elementwise with a
        tensor argument, as in PyTorch."""
        from zili.tensor.tensor import Tensor
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        if dim is None:
            return self.amax()
        return MaxResult(self.amax(dim, keepdim), self.argmax(dim, keepdim))

    @dim_aliases
    def min(self: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
        """The overall minimum, or (values, indices) along ``dim``."""
        from zili.tensor.tensor import Tensor
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        if dim is None:
            return self.amin()
        return MaxResult(self.amin(dim, keepdim), self.argmin(dim, keepdim))

    @dim_aliases
    def argmax(self: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the first maximum along ``dim`` (of the flattened tensor if None)."""
        from zili.tensor.creation import arange
        dtypes.check_supported("argmax", self.dtype)
        if dim is None:
            return self.reshape(-1).argmax(0)
        axis = self._axis(dim)
        x = self.detach()
        if x.ndim == 0:
            return x._scalar(0, dtypes.int64).clone()
        size = x.shape[axis]
        hit = x == x.amax(axis, keepdim=True)
        if x.dtype.is_floating_point:
            hit = hit | (x != x)  # a NaN is the maximum (amax gives NaN), as in PyTorch
        shape = tuple(size if i == axis else 1 for i in range(x.ndim))
        reverse = arange(size, 0, -1, dtype=dtypes.int64, device=x.device).reshape(shape)
        first = hit._where(reverse, 0).amax(axis, keepdim=keepdim)
        return size - first

    @dim_aliases
    def argmin(self: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the first minimum along ``dim``."""
        dtypes.check_supported("argmin", self.dtype)
        x = self.detach()
        if x.dtype is dtypes.bool_:
            return x.logical_not().argmax(dim, keepdim)
        return (-x if x.dtype.is_floating_point else ~x).argmax(dim, keepdim)

    @dim_aliases
    def any(self: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
        """True where any element along ``dim`` is nonzero (False over an empty axis)."""
        return self.bool().sum(dim, keepdim) > 0

    @dim_aliases
    def all(self: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
        """True where every element along ``dim`` is nonzero (True over an empty axis)."""
        return self.bool().logical_not().any(dim, keepdim).logical_not()

    @dim_aliases
    def logsumexp(self: Tensor, dim: Dim, keepdim: bool = False) -> Tensor:
        """log(sum(exp(x))) over ``dim``, stable for large values."""
        axes = self._axes(dim)
        peak = self.detach().amax(axes, keepdim=True)
        peak = peak.isinf()._where(0.0, peak)  # all -inf rows give -inf, not NaN
        total = (self - peak).exp().sum(axes, keepdim=True).log() + peak
        return _drop(total, axes, keepdim)

    def matmul(self: Tensor, other: Tensor) -> Tensor:
        """Matrix product with NumPy's rules for 1-D operands and broadcast batch axes.

        Raises:
            ValueError: naming both shapes when the inner sizes differ.
        """
        from zili.tensor.tensor import broadcast_shape
        a, b = lower_precision(self, other)  # autocast: products in float16/bfloat16
        dtypes.check_supported("matmul", a.dtype, b.dtype)
        if a.dtype is not b.dtype:
            common = dtypes.promote_types(a.dtype, b.dtype)
            a, b = a.to(common), b.to(common)
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError("matmul: both arguments need at least one dimension")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else -1]:
            raise ShapeError(f"matmul: shapes {self.shape} and {other.shape} do not multiply "
                             f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else -1]})")
        if b.ndim == 1:
            return a.matmul(b.reshape(-1, 1)).squeeze(-1)
        if a.ndim == 1:
            return a.reshape(1, -1).matmul(b).squeeze(-2)
        if b.ndim == 2 and a.ndim > 2:
            # Fold batch axes into rows: one large product instead of many small ones.
            rows = a.reshape(-1, a.shape[-1])
            return F.Matmul.apply(rows, b).reshape(a.shape[:-1] + (b.shape[-1],))
        batch = broadcast_shape(a.shape[:-2], b.shape[:-2], op="matmul")
        a = a.expand(batch + a.shape[-2:])
        b = b.expand(batch + b.shape[-2:])
        return F.Matmul.apply(a, b)

    def dot(self: Tensor, other: Tensor) -> Tensor:
        """Inner product of two vectors."""
        return self.matmul(other)
