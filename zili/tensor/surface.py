"""The rest of ``torch.Tensor``'s everyday methods, each a short composition of zili's own
operations: PyTorch's aliases (``multiply``, ``greater``, ``swapaxes``...), matrix-product
spellings (``mm``, ``bmm``, ``mv``, ``addmm``, ``outer``), NaN-aware and numerically careful
elementwise functions (``fmax``, ``hypot``, ``logaddexp``, ``xlogy``, ``nan_to_num``,
``sinc``...), reshaping helpers (``roll``, ``tile``, ``movedim``, ``diagonal``,
``tensor_split``, ``repeat_interleave``...) and ``new_*`` factories. Gradients come from the
operations they are written in; where a formula has a removable singularity (``sinc`` at 0,
``xlogy`` at x = 0) the other branch is computed on a safe input so no NaN leaks into it.
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from zili import dtype as dtypes
from zili.errors import ShapeError
from zili.ops.view import View
from zili.tensor.movement import cat

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

MinMax = namedtuple("MinMax", ["min", "max"])


def _dims(ndim: int, dims: Any) -> list[int]:
    items = [dims] if isinstance(dims, int) else list(dims)
    return [d % max(ndim, 1) for d in items]


class SurfaceOps:
    """Mixed into Tensor."""

    __slots__ = ()

    # --- aliases ---------------------------------------------------------------------------

    def neg(self: Tensor) -> Tensor:
        """-self."""
        return -self

    negative = neg

    def positive(self: Tensor) -> Tensor:
        """self (PyTorch refuses bool).

        Raises:
            TypeError: for a bool tensor.
        """
        if self.dtype is dtypes.bool_:
            raise TypeError("positive: not supported for bool tensors")
        return self

    def absolute(self: Tensor) -> Tensor:
        """|self| (``abs``)."""
        return self.abs()

    def multiply(self: Tensor, other: Any) -> Tensor:
        """self * other."""
        return self * other

    def divide(self: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        """``div``."""
        return self.div(other, rounding_mode=rounding_mode)

    def subtract(self: Tensor, other: Any, *, alpha: Any = 1) -> Tensor:
        """self - alpha * other."""
        return self.sub(other, alpha=alpha)

    def greater(self: Tensor, other: Any) -> Tensor:
        """self > other."""
        return self > other

    def greater_equal(self: Tensor, other: Any) -> Tensor:
        """self >= other."""
        return self >= other

    def less(self: Tensor, other: Any) -> Tensor:
        """self < other."""
        return self < other

    def less_equal(self: Tensor, other: Any) -> Tensor:
        """self <= other."""
        return self <= other

    def not_equal(self: Tensor, other: Any) -> Tensor:
        """self != other."""
        return self != other

    def clamp_min(self: Tensor, min: Any) -> Tensor:  # noqa: A002
        """clamp(min=min)."""
        return self.clamp(min=min)

    def clamp_max(self: Tensor, max: Any) -> Tensor:  # noqa: A002
        """clamp(max=max)."""
        return self.clamp(max=max)

    def ravel(self: Tensor) -> Tensor:
        """The elements as one axis (a view when possible)."""
        return self.reshape(-1)

    def view_as(self: Tensor, other: Tensor) -> Tensor:
        """``view(other.shape)``."""
        return self.view(other.shape)

    def reshape_as(self: Tensor, other: Tensor) -> Tensor:
        """``reshape(other.shape)``."""
        return self.reshape(other.shape)

    def type_as(self: Tensor, other: Tensor) -> Tensor:
        """self in ``other``'s dtype."""
        return self.to(other.dtype)

    def swapaxes(self: Tensor, axis0: int, axis1: int) -> Tensor:
        """``transpose(axis0, axis1)``."""
        return self.transpose(axis0, axis1)

    def swapdims(self: Tensor, dim0: int, dim1: int) -> Tensor:
        """``transpose(dim0, dim1)``."""
        return self.transpose(dim0, dim1)

    def movedim(self: Tensor, source: Any, destination: Any) -> Tensor:
        """Axes ``source`` moved to positions ``destination``, the others keeping their order.

        Raises:
            ShapeError: source and destination of different lengths or repeated.
        """
        src, dst = _dims(self.ndim, source), _dims(self.ndim, destination)
        if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
            raise ShapeError(f"movedim: source {source} and destination {destination} must "
                             "be unique dims of equal count")
        rest = iter(d for d in range(self.ndim) if d not in src)
        placed = dict(zip(dst, src))
        return self.permute(tuple(placed[i] if i in placed else next(rest)
                                  for i in range(self.ndim)))

    moveaxis = movedim

    def tril(self: Tensor, diagonal: int = 0) -> Tensor:
        """Elements on and below the ``diagonal``-th diagonal of the last two axes."""
        rows, cols = self.shape[-2:]
        r, c = self._host(np.arange(rows).reshape(rows, 1)), self._host(np.arange(cols))
        return (c <= r + diagonal)._where(self, self._scalar(0))

    def triu(self: Tensor, diagonal: int = 0) -> Tensor:
        """Elements on and above the ``diagonal``-th diagonal of the last two axes."""
        rows, cols = self.shape[-2:]
        r, c = self._host(np.arange(rows).reshape(rows, 1)), self._host(np.arange(cols))
        return (c >= r + diagonal)._where(self, self._scalar(0))

    # --- introspection and factories -------------------------------------------------------

    def ndimension(self: Tensor) -> int:
        """The number of axes."""
        return self.ndim

    def nelement(self: Tensor) -> int:
        """The number of elements."""
        return self.numel()

    def is_complex(self: Tensor) -> bool:
        """False: zili has no complex dtypes."""
        return False

    def is_signed(self: Tensor) -> bool:
        """Whether the dtype holds negative values."""
        return self.dtype.is_floating_point or self.dtype.name.startswith("int")

    def is_contiguous(self: Tensor) -> bool:
        """Whether the elements lie in row-major order without gaps (offset aside)."""
        return self._view.mask is None and self._view.contiguous

    def stride(self: Tensor, dim: int | None = None) -> Any:
        """Elements to step in memory per index of each axis (of ``dim``)."""
        strides = tuple(self._view.strides)
        return strides if dim is None else strides[dim % max(self.ndim, 1)]

    def storage_offset(self: Tensor) -> int:
        """Where the first element lies in the storage, in elements."""
        return int(self._view.offset)

    def _host(self: Tensor, array: np.ndarray) -> Tensor:
        """A host array as a tensor on this device."""
        return type(self)._make(self.device.from_numpy(np.ascontiguousarray(array)),
                                _view_of(array.shape), dtypes.to_dtype(array.dtype),
                                self.device)

    def new_full(self: Tensor, size: Any, fill_value: Any, *, dtype: Any = None,
                 device: Any = None, requires_grad: bool = False) -> Tensor:
        """A new tensor of ``size`` filled with ``fill_value``, by default of this tensor's
        dtype and device."""
        shape = tuple(size) if isinstance(size, Sequence) else (size,)
        dtype = dtypes.to_dtype(dtype) if dtype is not None else self.dtype
        out = self._scalar(fill_value, dtype, shape).contiguous()
        if device is not None:
            out = out.to(device)
        out.requires_grad = requires_grad
        return out

    def new_zeros(self: Tensor, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` (this tensor's dtype and device by default)."""
        return self.new_full(_size(size), 0, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_ones(self: Tensor, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:
        """Ones of ``size`` (this tensor's dtype and device by default)."""
        return self.new_full(_size(size), 1, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_empty(self: Tensor, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Tensor:
        """A new tensor of ``size`` (zero-filled here; PyTorch leaves it uninitialised)."""
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_tensor(self: Tensor, data: Any, *, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False) -> Tensor:
        """``data`` copied into a new tensor of this tensor's dtype and device by default."""
        dtype = dtypes.to_dtype(dtype) if dtype is not None else self.dtype
        values = data.detach().numpy() if hasattr(data, "_storage") else data
        out = self._host(np.array(values, dtype=dtype.numpy))
        if device is not None:
            out = out.to(device)
        out.requires_grad = requires_grad
        return out

    # --- matrix products -------------------------------------------------------------------

    def mm(self: Tensor, mat2: Tensor) -> Tensor:
        """Matrix product of two 2-D tensors.

        Raises:
            ShapeError: an operand that is not 2-D, or inner sizes that differ.
        """
        if self.ndim != 2 or mat2.ndim != 2:
            raise ShapeError(f"mm: both operands must be 2-D, got {self.shape} and "
                             f"{mat2.shape}")
        return self.matmul(mat2)

    def bmm(self: Tensor, mat2: Tensor) -> Tensor:
        """Batched matrix product of two 3-D tensors with the same batch.

        Raises:
            ShapeError: operands not 3-D or batches that differ.
        """
        if self.ndim != 3 or mat2.ndim != 3 or self.shape[0] != mat2.shape[0]:
            raise ShapeError(f"bmm: operands must be 3-D with equal batch sizes, got "
                             f"{self.shape} and {mat2.shape}")
        return self.matmul(mat2)

    def mv(self: Tensor, vec: Tensor) -> Tensor:
        """Matrix (2-D) times vector (1-D).

        Raises:
            ShapeError: for other ranks or sizes that do not fit.
        """
        if self.ndim != 2 or vec.ndim != 1:
            raise ShapeError(f"mv: expects a 2-D matrix and a 1-D vector, got {self.shape} "
                             f"and {vec.shape}")
        return self.matmul(vec)

    def outer(self: Tensor, vec2: Tensor) -> Tensor:
        """Outer product of two 1-D tensors.

        Raises:
            ShapeError: an operand that is not 1-D.
        """
        if self.ndim != 1 or vec2.ndim != 1:
            raise ShapeError(f"outer: both operands must be 1-D, got {self.shape} and "
                             f"{vec2.shape}")
        return self.reshape(-1, 1) * vec2.reshape(1, -1)

    def addmm(self: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Any = 1,
              alpha: Any = 1) -> Tensor:
        """beta * self + alpha * (mat1 @ mat2); with beta = 0 self is ignored (NaN too)."""
        product = mat1.mm(mat2)
        product = product * alpha if alpha != 1 else product
        if beta == 0:
            return product + self._scalar(0, product.dtype, product.shape)
        return product + (self * beta if beta != 1 else self)

    def addcmul(self: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        """self + value * tensor1 * tensor2."""
        return self + tensor1 * tensor2 * value

    def addcdiv(self: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        """self + value * tensor1 / tensor2."""
        return self + tensor1 / tensor2 * value

    # --- elementwise -------------------------------------------------------------------------

    def logical_and(self: Tensor, other: Tensor) -> Tensor:
        """Both nonzero (bool)."""
        return (self != 0) & (other != 0)

    def logical_or(self: Tensor, other: Tensor) -> Tensor:
        """Either nonzero (bool)."""
        return (self != 0) | (other != 0)

    def logical_xor(self: Tensor, other: Tensor) -> Tensor:
        """Exactly one nonzero (bool)."""
        return (self != 0) ^ (other != 0)

    def bitwise_and(self: Tensor, other: Any) -> Tensor:
        """self & other (integers and bool)."""
        return self & other

    def bitwise_or(self: Tensor, other: Any) -> Tensor:
        """self | other."""
        return self | other

    def bitwise_xor(self: Tensor, other: Any) -> Tensor:
        """self ^ other."""
        return self ^ other

    def fmax(self: Tensor, other: Tensor) -> Tensor:
        """Elementwise maximum ignoring NaN (NaN only where both are NaN)."""
        a, b = self._operands(other, "fmax")
        return a.isnan()._where(b, b.isnan()._where(a, a.maximum(b)))

    def fmin(self: Tensor, other: Tensor) -> Tensor:
        """Elementwise minimum ignoring NaN."""
        a, b = self._operands(other, "fmin")
        return a.isnan()._where(b, b.isnan()._where(a, a.minimum(b)))

    def hypot(self: Tensor, other: Tensor) -> Tensor:
        """sqrt(self^2 + other^2) without overflow: the larger magnitude times
        sqrt(1 + ratio^2); inf where either is infinite (even against NaN), as C's hypot."""
        a, b = self._operands(other, "hypot")
        x, y = a.abs(), b.abs()
        big, small = x.maximum(y), x.minimum(y)
        safe = (big == 0)._where(big._scalar(1.0), big)
        ratio = small / safe
        out = big * (ratio * ratio + 1).sqrt()
        return (x.isinf() | y.isinf())._where(big._scalar(math.inf), out)

    def logaddexp(self: Tensor, other: Tensor) -> Tensor:
        """log(exp(self) + exp(other)), computed stably."""
        a, b = self._operands(other, "logaddexp")
        big = a.maximum(b)
        same = a == b  # also both -inf or both inf, where a - b is NaN
        gap = same._where(big._scalar(0.0), (a - b).abs())
        return same._where(big + math.log(2.0), big + (-gap).exp().log1p())

    def logaddexp2(self: Tensor, other: Tensor) -> Tensor:
        """log2(2^self + 2^other), computed stably."""
        a, b = self._operands(other, "logaddexp2")
        return a.mul(math.log(2.0)).logaddexp(b.mul(math.log(2.0))) / math.log(2.0)

    def xlogy(self: Tensor, other: Any) -> Tensor:
        """self * log(other), 0 where self is 0 (unless other is NaN), as PyTorch."""
        a, b = self._operands(other, "xlogy")
        if not a.dtype.is_floating_point:
            a, b = a.float(), b.float()
        zero = a == 0
        safe = zero._where(b._scalar(1.0), b)
        out = zero._where(a._scalar(0.0), a * safe.log())
        return b.isnan()._where(b, out)

    def nan_to_num(self: Tensor, nan: float = 0.0, posinf: float | None = None,
                   neginf: float | None = None) -> Tensor:
        """NaN, +inf and -inf replaced (by default with 0 and the dtype's largest and lowest
        finite values)."""
        if not self.dtype.is_floating_point:
            return self.clone()
        info = np.finfo(self.dtype.numpy) if self.dtype.name != "bfloat16" else \
            np.finfo(np.float32)
        high = float(info.max) if posinf is None else posinf
        low = float(info.min) if neginf is None else neginf
        if self.dtype.name == "bfloat16" and posinf is None:
            high, low = 3.3895313892515355e38, -3.3895313892515355e38
        out = self.isnan()._where(self._scalar(nan), self)
        out = (out == math.inf)._where(self._scalar(high), out)
        return (out == -math.inf)._where(self._scalar(low), out)

    def deg2rad(self: Tensor) -> Tensor:
        """Degrees to radians."""
        return self * (math.pi / 180.0)

    def rad2deg(self: Tensor) -> Tensor:
        """Radians to degrees."""
        return self * (180.0 / math.pi)

    def heaviside(self: Tensor, values: Tensor) -> Tensor:
        """0 below zero, 1 above, ``values`` at zero."""
        a, v = self._operands(values, "heaviside")
        return (a == 0)._where(v, (a > 0).to(a.dtype))

    def sinc(self: Tensor) -> Tensor:
        """sin(pi x) / (pi x), 1 at 0 (gradient 0 there)."""
        x = self if self.dtype.is_floating_point else self.float()
        zero = x == 0
        safe = zero._where(x._scalar(1.0), x) * math.pi
        return zero._where(x._scalar(1.0), safe.sin() / safe)

    def logit(self: Tensor, eps: float | None = None) -> Tensor:
        """log(p / (1 - p)), p clamped to [eps, 1 - eps] when ``eps`` is given."""
        p = self if eps is None else self.clamp(eps, 1.0 - eps)
        return (p / (1.0 - p)).log()

    def float_power(self: Tensor, exponent: Any) -> Tensor:
        """self ** exponent in float64."""
        other = exponent.double() if hasattr(exponent, "_storage") else float(exponent)
        return self.double().pow(other)

    def isposinf(self: Tensor) -> Tensor:
        """Equal to +inf (bool)."""
        return self == math.inf if self.dtype.is_floating_point else self != self

    def isneginf(self: Tensor) -> Tensor:
        """Equal to -inf (bool)."""
        return self == -math.inf if self.dtype.is_floating_point else self != self

    # --- reductions ----------------------------------------------------------------------------

    def count_nonzero(self: Tensor, dim: Any = None) -> Tensor:
        """The number of nonzero elements (over ``dim``), int64."""
        return (self != 0).sum(dim).to(dtypes.int64)

    def nansum(self: Tensor, dim: Any = None, keepdim: bool = False, *,
               dtype: Any = None) -> Tensor:
        """sum treating NaN as zero."""
        x = self.to(dtypes.to_dtype(dtype)) if dtype is not None else self
        if x.dtype.is_floating_point:
            x = x.isnan()._where(x._scalar(0.0), x)
        return x.sum(dim, keepdim)

    def nanmean(self: Tensor, dim: Any = None, keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
        """mean of the non-NaN elements (NaN where there are none)."""
        x = self.to(dtypes.to_dtype(dtype)) if dtype is not None else self
        count = (~x.isnan()).to(x.dtype).sum(dim, keepdim)
        return x.nansum(dim, keepdim) / count

    def aminmax(self: Tensor, *, dim: int | None = None, keepdim: bool = False) -> MinMax:
        """(min, max) together, over everything or along ``dim``."""
        return MinMax(self.amin(dim, keepdim), self.amax(dim, keepdim))

    def trace(self: Tensor) -> Tensor:
        """The sum of the main diagonal of a 2-D tensor.

        Raises:
            ShapeError: not 2-D.
        """
        if self.ndim != 2:
            raise ShapeError(f"trace: expects a 2-D tensor, got shape {self.shape}")
        return self.diagonal().sum()

    # --- shape ---------------------------------------------------------------------------------

    def diagonal(self: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """The ``offset``-th diagonal of axes ``dim1``, ``dim2``, as a new last axis."""
        d1, d2 = _dims(self.ndim, (dim1, dim2))
        x = self.movedim((d1, d2), (-2, -1))
        rows, cols = x.shape[-2:]
        start_r, start_c = max(-offset, 0), max(offset, 0)
        length = max(0, min(rows - start_r, cols - start_c))
        r = self._host(np.arange(start_r, start_r + length))
        c = self._host(np.arange(start_c, start_c + length))
        return x[..., r, c]

    def diag(self: Tensor, diagonal: int = 0) -> Tensor:
        """1-D: a square matrix with self on its ``diagonal``-th diagonal; 2-D: that
        diagonal.

        Raises:
            ShapeError: for other ranks.
        """
        if self.ndim == 2:
            return self.diagonal(diagonal)
        if self.ndim != 1:
            raise ShapeError(f"diag: expects a 1-D or 2-D tensor, got shape {self.shape}")
        n = self.shape[0] + abs(diagonal)
        rows = np.arange(self.shape[0]) + max(-diagonal, 0)
        cols = np.arange(self.shape[0]) + max(diagonal, 0)
        flat = self._host((rows * n + cols).astype(np.int64))
        base = self._scalar(0, self.dtype, (n * n,))
        return base.scatter(0, flat, self).reshape(n, n)

    def roll(self: Tensor, shifts: Any, dims: Any = None) -> Tensor:
        """Elements shifted cyclically by ``shifts`` along ``dims`` (the flattened tensor
        when None).

        Raises:
            ShapeError: shifts and dims of different lengths.
        """
        if dims is None:
            return self.reshape(-1).roll(shifts, 0).reshape(self.shape)
        shift_list = [shifts] if isinstance(shifts, int) else list(shifts)
        dim_list = _dims(self.ndim, dims)
        if len(shift_list) != len(dim_list):
            raise ShapeError(f"roll: shifts {shifts} and dims {dims} must have equal lengths")
        out = self
        for shift, dim in zip(shift_list, dim_list):
            size = out.shape[dim]
            if size == 0 or shift % size == 0:
                continue
            k = shift % size
            out = cat([out.narrow(dim, size - k, k), out.narrow(dim, 0, size - k)], dim)
        return out

    def tile(self: Tensor, dims: Any) -> Tensor:
        """The tensor repeated ``dims`` times per axis (leading ones added to the shorter)."""
        reps = tuple(dims) if isinstance(dims, Sequence) else (dims,)
        x = self.reshape((1,) * max(len(reps) - self.ndim, 0) + self.shape)
        reps = (1,) * max(x.ndim - len(reps), 0) + reps
        return x.repeat(*reps)

    def select(self: Tensor, dim: int, index: int) -> Tensor:
        """The slice at ``index`` along ``dim``, that axis removed (a view)."""
        d = dim % max(self.ndim, 1)
        return self[(slice(None),) * d + (index,)]

    def take(self: Tensor, index: Tensor) -> Tensor:
        """Elements of the flattened tensor at ``index`` (result shaped as ``index``)."""
        flat = self.reshape(-1)
        return flat.gather(0, index.reshape(-1).to(dtypes.int64)).reshape(index.shape)

    def split_with_sizes(self: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple:
        """Pieces of the given sizes along ``dim``."""
        return tuple(self.split(list(split_sizes), dim))

    def tensor_split(self: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple:
        """Pieces along ``dim``: ``n`` nearly equal ones (the first size % n one longer), or
        cut before each of the given indices."""
        d = dim % max(self.ndim, 1)
        size = self.shape[d]
        if isinstance(indices_or_sections, int):
            count = indices_or_sections
            if count < 1:
                raise ShapeError(f"tensor_split: number of sections must be positive, got "
                                 f"{count}")
            small, extra = divmod(size, count)
            bounds = np.cumsum([0] + [small + (i < extra) for i in range(count)])
        else:
            cuts = [min(max(int(i), 0), size) for i in indices_or_sections]
            bounds = [0, *cuts, size]
        return tuple(self.narrow(d, int(lo), max(int(hi) - int(lo), 0))
                     for lo, hi in zip(bounds[:-1], bounds[1:]))

    def repeat_interleave(self: Tensor, repeats: Any, dim: int | None = None, *,
                          output_size: int | None = None) -> Tensor:
        """Each element (or slice along ``dim``) repeated ``repeats`` times in place."""
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else dim % max(self.ndim, 1)
        counts = repeats.numpy() if hasattr(repeats, "_storage") else repeats
        picks = np.repeat(np.arange(x.shape[d]), counts)
        return x.index_select(d, self._host(picks.astype(np.int64)))

    def diff(self: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None,
             append: Tensor | None = None) -> Tensor:
        """The ``n``-th forward difference along ``dim`` (bool: inequality)."""
        d = dim % max(self.ndim, 1)
        x = self
        if prepend is not None:
            x = cat([prepend, x], d)
        if append is not None:
            x = cat([x, append], d)
        for _ in range(n):
            size = x.shape[d]
            kept = max(size - 1, 0)
            later, earlier = x.narrow(d, min(1, size), kept), x.narrow(d, 0, kept)
            x = later != earlier if x.dtype is dtypes.bool_ else later - earlier
        return x

    def cross(self: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
        """Cross product of 3-vectors along ``dim`` (None: the first axis of size 3).

        Raises:
            ShapeError: no axis of size 3, or operands whose shapes differ.
        """
        if self.shape != other.shape:
            raise ShapeError(f"cross: shapes {self.shape} and {other.shape} must be equal")
        if dim is None:
            sized = [i for i, s in enumerate(self.shape) if s == 3]
            if not sized:
                raise ShapeError(f"cross: no dimension of size 3 in shape {self.shape}")
            dim = sized[0]
        d = dim % max(self.ndim, 1)
        if self.shape[d] != 3:
            raise ShapeError(f"cross: dimension {dim} has size {self.shape[d]}, expected 3")
        a = [self.select(d, i) for i in range(3)]
        b = [other.select(d, i) for i in range(3)]
        parts = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                 a[0] * b[1] - a[1] * b[0]]
        return cat([p.unsqueeze(d) for p in parts], d)

    def kron(self: Tensor, other: Tensor) -> Tensor:
        """Kronecker product (the shorter shape padded with leading ones)."""
        n = max(self.ndim, other.ndim)
        a = self.reshape((1,) * (n - self.ndim) + self.shape)
        b = other.reshape((1,) * (n - other.ndim) + other.shape)
        left = a.reshape(tuple(x for s in a.shape for x in (s, 1)))
        right = b.reshape(tuple(x for s in b.shape for x in (1, s)))
        return (left * right).reshape(tuple(p * q for p, q in zip(a.shape, b.shape)))


def _size(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], Sequence):
        return tuple(size[0])
    return tuple(size)


def _view_of(shape: tuple[int, ...]) -> View:
    return View(tuple(shape))
