"""Sorting, selection and scattering on Tensor: ``sort``/``argsort``/``topk``/``kthvalue``/
``median``/``msort``, ``unique``/``nonzero``/``masked_select``, the ``scatter`` family and
``take_along_dim``.

Sorting is a composite: a bitonic sorting network over (value, position) pairs gives the
stable permutation (O(n log^2 n) work, every step views and WHERE selections), and the
values are a GATHER, whose gradient sends each output's gradient back to its
element. NaN sorts as the largest value, as in PyTorch. Outputs whose size depends on the
data (``unique``, ``nonzero``, ``masked_select``) read the data on the host.
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING, Any

import numpy as np

from zili import dtype as dtypes
from zili.errors import ShapeError
from zili.tensor import functions as F
from zili.tensor.scatter_reduce import REDUCTIONS, scatter_reduce_extreme

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

SortResult = namedtuple("SortResult", ["values", "indices"])


def _positions(x: Tensor, axis: int) -> Tensor:
    from zili.tensor.creation import arange  # creation imports the Tensor this mixes into
    shape = tuple(s if i == axis else 1 for i, s in enumerate(x.shape))
    return arange(x.shape[axis], device=x.device).reshape(shape).expand(x.shape)


def _before(va: Tensor, ia: Tensor, vb: Tensor, ib: Tensor, n: int,
            descending: bool) -> Tensor:
    """True where (va, ia) sorts before (vb, ib): by value (NaN largest), ties by position
    (stable), padding (positions >= n) last."""
    if va.dtype.is_floating_point:
        nan_a, nan_b = va.isnan(), vb.isnan()
        if descending:
            less = (va > vb) | (nan_a & ~nan_b)
        else:
            less = ~nan_a & ((va < vb) | nan_b)
        same = (va == vb) | (nan_a & nan_b)
    else:
        less = va > vb if descending else va < vb
        same = va == vb
    real_a, real_b = ia < n, ib < n
    return real_a & (~real_b | less | (same & (ia < ib)))


def _order(x: Tensor, axis: int, descending: bool) -> Tensor:
    """The stable sorting permutation along ``axis`` (int64, x's shape): a bitonic sorting
    network over (value, position) pairs, O(n log^2 n) work in log2(p)(log2(p)+1)/2 steps
    (p: n rounded up to a power of two). Each step is views (reshape, flip, index) and
    WHERE selections; ties keep input order because positions break them."""
    from zili.tensor.creation import arange  # creation imports the Tensor this mixes into
    from zili.tensor.movement import stack
    data = x.detach()
    if data.dtype is dtypes.bool_:
        data = data.to(dtypes.uint8)
    elif data.dtype in dtypes.LIMITED:  # no comparisons on these: an order-keeping int64
        data = data.to(dtypes.int64) if data.dtype is not dtypes.uint64 else \
            (data ^ (1 << 63)).to(dtypes.int64)  # flipping the top bit keeps the order
    n = x.shape[axis]
    p = 1 << max(n - 1, 0).bit_length()
    perm = [d for d in range(x.ndim) if d != axis] + [axis]
    v = data.permute(perm)
    outer = v.shape[:-1]
    if p > n:
        v = v.pad_axes(tuple((0, 0) for _ in outer) + ((0, p - n),))
    idx = arange(p, device=x.device).reshape((1,) * len(outer) + (p,)).expand(outer + (p,))
    k = 2
    while k <= p:
        j = k // 2
        while j >= 1:
            shape = outer + (p // (2 * j), 2, j)
            vr, ir = v.reshape(shape), idx.reshape(shape)
            lo_v, hi_v, lo_i, hi_i = vr[..., 0, :], vr[..., 1, :], ir[..., 0, :], ir[..., 1, :]
            if j == k // 2:  # the merge's first step pairs i with k-1-i: a flipped half
                hi_v, hi_i = hi_v.flip(-1), hi_i.flip(-1)
            swap = _before(hi_v, hi_i, lo_v, lo_i, n, descending)
            new_lo_v, new_hi_v = swap._where(hi_v, lo_v), swap._where(lo_v, hi_v)
            new_lo_i, new_hi_i = swap._where(hi_i, lo_i), swap._where(lo_i, hi_i)
            if j == k // 2:
                new_hi_v, new_hi_i = new_hi_v.flip(-1), new_hi_i.flip(-1)
            v = stack([new_lo_v, new_hi_v], -2).reshape(outer + (p,))
            idx = stack([new_lo_i, new_hi_i], -2).reshape(outer + (p,))
            j //= 2
        k *= 2
    order = idx.narrow(-1, 0, n) if p > n else idx
    inverse = [perm.index(d) for d in range(x.ndim)]
    return order.permute(inverse)


class SelectionOps:
    """Mixed into Tensor."""

    __slots__ = ()

    def sort(self: Tensor, dim: int = -1, descending: bool = False,
             stable: bool = True) -> SortResult:
        """(values, indices) sorted along ``dim`` (stable; NaN largest), as PyTorch."""
        if self.ndim == 0:
            return SortResult(self * 1, self._scalar(0, dtypes.int64).clone())
        axis = self._axis(dim)
        if self.shape[axis] == 0:
            return SortResult(self * 1, self._scalar(0, dtypes.int64, self.shape) * 1)
        order = _order(self, axis, descending)
        # GATHER itself: torch.gather has no uint16/32/64 kernel, but sort has
        return SortResult(F.Gather.apply(self, order, axis=axis), order)

    def argsort(self: Tensor, dim: int = -1, descending: bool = False,
                stable: bool = True) -> Tensor:
        """Indices that sort ``dim``."""
        return self.sort(dim, descending).indices

    def msort(self: Tensor) -> Tensor:
        """Values sorted along the first axis."""
        return self.sort(0).values

    def topk(self: Tensor, k: int, dim: int = -1, largest: bool = True,
             sorted: bool = True) -> SortResult:  # noqa: A002
        """The ``k`` largest (or smallest) values and their indices along ``dim``.

        Raises:
            ShapeError: if k exceeds the axis size.
        """
        axis = self._axis(dim)
        size = self.shape[axis] if self.ndim else 1
        if not 0 <= k <= size:
            raise ShapeError(f"topk: k={k} is out of range for dimension {dim} of size {size}")
        values, indices = self.sort(dim, descending=largest)
        if self.ndim == 0:
            return SortResult(values, indices)
        return SortResult(values.narrow(axis, 0, k), indices.narrow(axis, 0, k))

    def kthvalue(self: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> SortResult:
        """The k-th smallest value (1-based) along ``dim`` and its index.

        Raises:
            ShapeError: if k is outside [1, size].
        """
        axis = self._axis(dim)
        size = self.shape[axis] if self.ndim else 1
        if not 1 <= k <= size:
            raise ShapeError(f"kthvalue: k={k} is out of range for dimension {dim} of size "
                             f"{size}")
        values, indices = self.sort(dim)
        if self.ndim == 0:
            return SortResult(values, indices)
        v, i = values.narrow(axis, k - 1, 1), indices.narrow(axis, k - 1, 1)
        return SortResult(v, i) if keepdim else SortResult(v.squeeze(axis), i.squeeze(axis))

    def median(self: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
        """The lower median (of all elements, or (values, indices) along ``dim``)."""
        if dim is None:
            flat = self.reshape(-1)
            return flat.kthvalue((flat.shape[0] + 1) // 2, 0).values
        size = self.shape[self._axis(dim)] if self.ndim else 1
        return self.kthvalue((size + 1) // 2, dim, keepdim)

    def mode(self: Tensor, dim: int = -1, keepdim: bool = False) -> SortResult:
        """(the most frequent value along ``dim``, the index of its last occurrence); ties
        go to the smallest value, as PyTorch. Built on the stable sort: run lengths of
        equal sorted values (cumsum + SCATTER_ADD), the first longest run wins."""
        if self.ndim == 0:
            return SortResult(self * 1, self._scalar(0, dtypes.int64).clone())
        axis = self._axis(dim)
        n = self.shape[axis]
        values, order = self.detach().sort(axis)
        if n > 1:
            change = values.narrow(axis, 1, n - 1) != values.narrow(axis, 0, n - 1)
            pad = tuple((1, 0) if i == axis else (0, 0) for i in range(self.ndim))
            start = change.pad_axes(pad) | (_positions(self, axis) == 0)
        else:
            start = _positions(self, axis) == 0
        run = start.to(dtypes.int64).cumsum(axis) - 1
        counts = self._scalar(0, dtypes.int64, self.shape).scatter_add(
            axis, run, self._scalar(1, dtypes.int64, self.shape))
        length = counts.gather(axis, run)
        pad = tuple((0, 1) if i == axis else (0, 0) for i in range(self.ndim))
        last = start.narrow(axis, 1, n - 1).pad_axes(pad) if n > 1 else start
        last = last | (_positions(self, axis) == n - 1)
        best = last._where(length, -1).argmax(axis, keepdim=True)
        index = order.gather(axis, best)
        value = self.gather(axis, index)
        if not keepdim:
            index, value = index.squeeze(axis), value.squeeze(axis)
        return SortResult(value, index)

    def unique(self: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
               return_counts: bool = False, dim: int | None = None) -> Any:
        """The distinct values (sorted), optionally with the inverse map and counts (reads
        the data on the host; no gradient)."""
        from zili.tensor.creation import tensor
        host = self.detach().numpy()
        if dim is not None:  # distinct slices along dim, in lexicographic order (PyTorch's)
            axis = self._axis(dim)
            values, inverse, counts = np.unique(host, return_inverse=True, return_counts=True,
                                                axis=axis)
            shape: tuple[int, ...] = (-1,)
        else:
            values, inverse, counts = np.unique(host, return_inverse=True, return_counts=True)
            shape = host.shape
        out = [tensor(np.ascontiguousarray(values), device=self.device)]
        if return_inverse:
            out.append(tensor(inverse.reshape(shape).astype(np.int64), device=self.device))
        if return_counts:
            out.append(tensor(counts.astype(np.int64), device=self.device))
        return out[0] if len(out) == 1 else tuple(out)

    def unique_consecutive(self: Tensor, return_inverse: bool = False,
                           return_counts: bool = False, dim: int | None = None) -> Any:
        """One element (or slice along ``dim``) per run of equal consecutive ones, with the
        inverse map and run lengths as PyTorch (reads the data on the host; no gradient)."""
        from zili.tensor.creation import tensor
        host = self.detach().numpy()
        axis = None if dim is None else self._axis(dim)
        moved = host.reshape(-1) if axis is None else np.moveaxis(host, axis, 0)
        rows = moved.reshape(moved.shape[0], -1)
        starts = np.ones(rows.shape[0], bool)
        starts[1:] = (rows[1:] != rows[:-1]).any(axis=1)
        values = moved[starts]
        if axis is not None:
            values = np.moveaxis(values, 0, axis)
        out = [tensor(np.ascontiguousarray(values), device=self.device)]
        if return_inverse:
            inverse = np.cumsum(starts) - 1
            out.append(tensor(inverse.reshape(host.shape if axis is None else (-1,))
                              .astype(np.int64), device=self.device))
        if return_counts:
            first = np.flatnonzero(starts)
            out.append(tensor(np.diff(np.append(first, rows.shape[0])).astype(np.int64),
                              device=self.device))
        return out[0] if len(out) == 1 else tuple(out)

    def nonzero(self: Tensor, as_tuple: bool = False) -> Any:
        """Indices of the nonzero elements: (count, ndim) int64, or one tensor per axis."""
        from zili.tensor.creation import tensor
        found = np.nonzero(self.detach().numpy().reshape(self.shape or (1,)))
        if as_tuple:
            return tuple(tensor(f.astype(np.int64), device=self.device) for f in found)
        stacked = np.stack(found, 1) if found else np.zeros((0, 0), np.int64)
        if not self.shape:
            stacked = stacked[:, :0]
        return tensor(stacked.astype(np.int64), device=self.device)

    def masked_select(self: Tensor, mask: Tensor) -> Tensor:
        """The elements where the bool ``mask`` (broadcast) is True, as a 1-D tensor
        (differentiable in self).

        Raises:
            TypeError: for a non-bool mask.
        """
        from zili.tensor.creation import tensor
        from zili.tensor.tensor import broadcast_shape
        if mask.dtype is not dtypes.bool_:
            raise TypeError(f"masked_select: mask must be bool, got {mask.dtype.name}")
        shape = broadcast_shape(self.shape, mask.shape, op="masked_select")
        picks = np.flatnonzero(mask.expand(shape).numpy()).astype(np.int64)
        return self.expand(shape).reshape(-1).index_select(0, tensor(picks, device=self.device))

    def take_along_dim(self: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
        """Values at ``indices`` along ``dim`` (broadcasting the other axes), or of the
        flattened tensor when ``dim`` is None."""
        from zili.tensor.tensor import broadcast_shape
        if dim is None:
            return self.reshape(-1).gather(0, indices.reshape(-1))
        axis = self._axis(dim)
        sizes = list(broadcast_shape(tuple(1 if i == axis else s for i, s in
                                           enumerate(self.shape)),
                                     tuple(1 if i == axis else s for i, s in
                                           enumerate(indices.shape)), op="take_along_dim"))
        x_shape = tuple(self.shape[axis] if i == axis else s for i, s in enumerate(sizes))
        i_shape = tuple(indices.shape[axis] if i == axis else s for i, s in enumerate(sizes))
        return self.expand(x_shape).gather(axis, indices.expand(i_shape))

    # --- scattering ---------------------------------------------------------------------------

    def scatter(self: Tensor, dim: int, index: Tensor, src: Any = None, *,
                value: Any = None, reduce: str | None = None) -> Tensor:
        """self with ``src`` (or ``value``) written at ``index`` along ``dim``
        (torch.scatter; repeated indices must carry one value, as PyTorch leaves the
        winner unspecified). ``reduce='add'``/``'multiply'`` combine instead.

        Raises:
            ValueError: for another reduce.
        """
        dtypes.check_supported("scatter", self.dtype)
        axis = self._axis(dim)
        source = src if src is not None else value
        if not hasattr(source, "shape"):
            source = self._scalar(source, self.dtype, index.shape)
        source = source.to(self.dtype)
        if source.shape != index.shape:  # PyTorch reads only the first index.shape of src
            source = source.shrink(tuple((0, s) for s in index.shape))
        index = index.to(dtypes.int64)
        if reduce == "add":
            return self.scatter_add(axis, index, source)
        if reduce == "multiply":
            return self.scatter_reduce(axis, index, source, "prod")
        if reduce is not None:
            raise ValueError(f"scatter: reduce must be None, 'add' or 'multiply', got "
                             f"{reduce!r}")
        zero = self._scalar(0, self.dtype, self.shape)
        hit = self._scalar(0, dtypes.int64, self.shape).scatter_add(
            axis, index, self._scalar(1, dtypes.int64, index.shape)) > 0
        written = zero.scatter_add(axis, index, source)
        return hit._where(written, self)

    def scatter_reduce(self: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str,
                       *, include_self: bool = True) -> Tensor:
        """Combine ``src`` into self at ``index`` along ``dim`` (torch.scatter_reduce):
        'sum' and 'mean' are composites of SCATTER_ADD; 'prod', 'amax' and 'amin' group src
        by destination with one-hot masks (zili/tensor/scatter_reduce.py). With
        ``include_self=False`` self's value at a position only survives where nothing lands.

        Raises:
            ValueError: for another reduce; ShapeError when index does not fit self and src.
        """
        dtypes.check_supported("scatter_reduce", self.dtype)
        axis = self._axis(dim)
        index = index.to(dtypes.int64)
        src = src.to(self.dtype)
        if reduce in REDUCTIONS:
            return scatter_reduce_extreme(self, axis, index, src, reduce, include_self)
        if reduce not in ("sum", "mean"):
            raise ValueError(f"scatter_reduce: reduce must be sum, mean, prod, amax or amin, "
                             f"got {reduce!r}")
        base = self if include_self else self * 0
        total = base.scatter_add(axis, index, src)
        ones = self._scalar(1, self.dtype, index.shape)
        count = self._scalar(1 if include_self else 0, self.dtype, self.shape).scatter_add(
            axis, index, ones)
        if not include_self:  # positions nothing lands on keep self
            total = (count > 0)._where(total, self)
        if reduce == "sum":
            return total
        mean = total / (count > 0)._where(count, 1)
        if not self.dtype.is_floating_point:
            mean = total.div(((count > 0)._where(count, 1)).to(total.dtype),
                             rounding_mode="floor")
        return mean

    def index_add(self: Tensor, dim: int, index: Tensor, source: Tensor,
                  alpha: Any = 1) -> Tensor:
        """self plus ``alpha * source`` added at the 1-D ``index`` along ``dim``."""
        axis = self._axis(dim)
        shape = tuple(s if i == axis else 1 for i, s in enumerate(source.shape))
        full = index.to(dtypes.int64).reshape(shape).expand(source.shape)
        return self.scatter_add(axis, full, source * alpha if alpha != 1 else source)

    def index_copy(self: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
        """self with ``source``'s slices written at the 1-D ``index`` along ``dim``."""
        axis = self._axis(dim)
        shape = tuple(s if i == axis else 1 for i, s in enumerate(source.shape))
        full = index.to(dtypes.int64).reshape(shape).expand(source.shape)
        return self.scatter(axis, full, source)

    def index_put(self: Tensor, indices: tuple[Tensor, ...], values: Any,
                  accumulate: bool = False) -> Tensor:
        """self with ``values`` written (or added, ``accumulate``) at the positions the
        integer index tensors pick (torch.index_put, out of place)."""
        from zili.tensor.creation import arange
        count = self.numel()
        positions = arange(count, device=self.device).reshape(self.shape)[tuple(indices)]
        flat = positions.reshape(-1)
        if not hasattr(values, "shape"):
            values = self._scalar(values, self.dtype)
        vals = values.to(self.dtype).expand(positions.shape).reshape(-1)
        base = self.reshape(-1)
        if accumulate:
            return base.scatter_add(0, flat, vals).reshape(self.shape)
        return base.scatter(0, flat, vals).reshape(self.shape)
