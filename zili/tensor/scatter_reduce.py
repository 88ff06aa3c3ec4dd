"""``scatter_reduce`` with ``reduce='prod'``, ``'amax'`` or ``'amin'``: a composite.

The forward groups the source by destination with one-hot masks over the index: for each
destination position j along ``dim``, ``index == j`` selects (WHERE) the source elements
that land on j, the others become the reduction's identity (1, -inf/+inf or the integer
type's limits), and a product or max/min reduction over ``dim`` combines them. Positions
nothing lands on keep self (found by a SCATTER_ADD of ones). Every step is an existing
primitive, so every device runs it. The masks hold numel(index) x self.shape[dim] elements;
they are built in blocks of destination positions so one block stays near ``_BLOCK``
elements (cost grows with self.shape[dim]; a sort-based grouping would not).

The backward is PyTorch's rule written in GATHER/SCATTER_ADD: amax/amin split the gradient
evenly among the positions that attain the extreme (self counts only when
``include_self``; PyTorch also counts an excluded self that happens to equal the result,
which is a known PyTorch bug and not reproduced here); prod gives each element the product
of the others, exact when one of them is zero.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from zili import dtype as dtypes
from zili.errors import ShapeError
from zili.ops.view import contiguous_view
from zili.tensor.autograd import Function, set_grad_enabled
from zili.tensor.movement import cat

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

REDUCTIONS = ("prod", "amax", "amin")
_BLOCK = 1 << 22  # mask elements per block of destination positions


def _identity(reduce: str, dtype: dtypes.DType) -> float | int:
    """The value that leaves ``reduce`` unchanged, in ``dtype``."""
    if reduce == "prod":
        return 1
    if dtype.is_floating_point:
        return -math.inf if reduce == "amax" else math.inf
    info = np.iinfo(dtype.numpy)
    return int(info.min) if reduce == "amax" else int(info.max)


def _positions(like: Tensor, start: int, stop: int) -> Tensor:
    """int64 start..stop-1 on ``like``'s device (no graph)."""
    values = np.arange(start, stop, dtype=np.int64)
    return type(like)._make(like.device.from_numpy(values), contiguous_view(values.shape),
                            dtypes.int64, like.device)


def _hits(base: Tensor, index: Tensor, axis: int) -> Tensor:
    """True where at least one index entry points (base's shape)."""
    count = base._scalar(0, dtypes.int64, base.shape).scatter_add(
        axis, index, base._scalar(1, dtypes.int64, index.shape))
    return count > 0


def _landed(base: Tensor, index: Tensor, src: Tensor, axis: int, reduce: str) -> Tensor:
    """For each position of ``base``, ``reduce`` of the src elements whose index points at
    it: the identity where none does inside index's extent, 0 in the padding beyond it."""
    identity = _identity(reduce, src.dtype)
    step = max(1, _BLOCK // max(1, index.numel()))
    keys, values = index.unsqueeze(-1), src.unsqueeze(-1)
    pieces = []
    for start in range(0, base.shape[axis], step):
        stop = min(base.shape[axis], start + step)
        chosen = (keys == _positions(base, start, stop))._where(values, identity)
        if reduce == "prod":
            block = chosen.prod(axis, keepdim=True).to(src.dtype)
        elif reduce == "amax":
            block = chosen.amax(axis, keepdim=True)
        else:
            block = chosen.amin(axis, keepdim=True)
        # (..., 1 at axis, ..., positions) -> (..., positions at axis, ...)
        pieces.append(block.transpose(axis, -1).squeeze(-1))
    landed = pieces[0] if len(pieces) == 1 else cat(pieces, axis)
    pad = tuple((0, s - o) for s, o in zip(base.shape, landed.shape))
    return landed.pad_axes(pad) if any(p for _, p in pad) else landed


def _combine(base: Tensor, landed: Tensor, hit: Tensor, reduce: str,
             include_self: bool) -> Tensor:
    """base where nothing lands, else the landed value (combined with base if include_self)."""
    merged = landed
    if include_self:
        merged = (base * landed if reduce == "prod" else base.maximum(landed)
                  if reduce == "amax" else base.minimum(landed))
    return hit._where(merged, base)


class ScatterReduce(Function):
    """scatter_reduce for prod/amax/amin: forward and backward as the module says."""

    def saved_tensors(self) -> tuple[Tensor, ...]:
        return self.saved[:3]

    def forward(self, base: Tensor, src: Tensor, index: Tensor, axis: int, reduce: str,
                include_self: bool) -> Tensor:
        with set_grad_enabled(False):
            b, s = base.detach(), src.detach()
            hit = _hits(b, index, axis)
            out = _combine(b, _landed(b, index, s, axis, reduce), hit, reduce, include_self)
        self.saved = (base, src, out, index, hit, axis, reduce, include_self)
        return out

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        base, src, out, index, hit, axis, reduce, include_self = self.saved
        with set_grad_enabled(False):
            base, src, out = base.detach(), src.detach(), out.detach()
            if reduce == "prod":
                return self._prod(grad, base, src, out, index, hit, axis, include_self)
            return self._extreme(grad, base, src, out, index, hit, axis, include_self)

    def _extreme(self, grad: Tensor, base: Tensor, src: Tensor, out: Tensor, index: Tensor,
                 hit: Tensor, axis: int, include_self: bool) -> tuple[Tensor | None, ...]:
        # Every element equal to its destination's result shares that gradient evenly.
        self_is = base == out
        if not include_self:
            self_is = self_is & ~hit  # an excluded self takes no part where something lands
        src_is = src == out.gather(axis, index)
        count = self_is.to(grad.dtype).scatter_add(axis, index, src_is.to(grad.dtype))
        share = grad / count
        grad_base = self_is._where(share, 0) if self.needs[0] else None
        grad_src = src_is._where(share.gather(axis, index), 0) if self.needs[1] else None
        return grad_base, grad_src

    def _prod(self, grad: Tensor, base: Tensor, src: Tensor, out: Tensor, index: Tensor,
              hit: Tensor, axis: int, include_self: bool) -> tuple[Tensor | None, ...]:
        grad_base = grad_src = None
        if self.needs[0]:
            if include_self:  # d out / d self = the product of what landed there
                landed = _landed(base, index, src, axis, "prod")
                grad_base = grad * hit._where(landed, 1)
            else:
                grad_base = hit._where(0, grad)
        if self.needs[1]:
            # out / src_i is the product of the others unless src_i is 0; a lone zero at its
            # destination gets the product of the others computed with it set to 1, and
            # with two or more zeros every zero's gradient is 0 (out / 1 with out = 0).
            zero = src == 0
            zeros_there = base._scalar(0, grad.dtype, base.shape).scatter_add(
                axis, index, zero.to(grad.dtype)).gather(axis, index)
            lone = zero & (zeros_there == 1)
            others = _combine(base, _landed(base, index, lone._where(1, src), axis, "prod"),
                              hit, "prod", include_self)
            grad_src = lone._where((grad * others).gather(axis, index),
                                   (grad * out).gather(axis, index) / zero._where(1, src))
        return grad_base, grad_src


def scatter_reduce_extreme(base: Tensor, axis: int, index: Tensor, src: Tensor, reduce: str,
                           include_self: bool) -> Tensor:
    """``base.scatter_reduce(axis, index, src, reduce, include_self=...)`` for ``reduce`` in
    prod/amax/amin, as PyTorch (index int64 and src already in base's dtype).

    Raises:
        ShapeError: index has another number of axes than base and src, is larger than src
            on some axis, or larger than base off ``axis``.
    """
    if not (index.ndim == base.ndim == src.ndim) or any(
            i > s for i, s in zip(index.shape, src.shape)) or any(
            i > b for d, (i, b) in enumerate(zip(index.shape, base.shape)) if d != axis):
        raise ShapeError(f"scatter_reduce: index of shape {index.shape} does not fit self of "
                         f"shape {base.shape} and src of shape {src.shape} along dim {axis}: "
                         "index needs as many axes, no larger than src, and no larger than "
                         "self off dim")
    if base.ndim == 0:
        return scatter_reduce_extreme(base.reshape(1), 0, index.reshape(1), src.reshape(1),
                                      reduce, include_self).reshape(())
    if index.numel() == 0:
        return base.clone()  # nothing lands: a copy of self, as PyTorch
    if src.shape != index.shape:  # PyTorch reads only the first index.shape of src
        src = src.shrink(tuple((0, s) for s in index.shape))
    if base.dtype is dtypes.bool_:  # prod/amin = all, amax = any
        return scatter_reduce_extreme(base.to(dtypes.uint8), axis, index,
                                      src.to(dtypes.uint8), reduce, include_self).bool()
    return ScatterReduce.apply(base, src, index=index, axis=axis, reduce=reduce,
                               include_self=include_self)
