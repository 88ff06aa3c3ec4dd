"""Sliding windows as views: the one building block of convolution, pooling, unfold and fold.

``windows(x, kernel, stride, dilation)`` turns the trailing ``d`` axes of ``x`` into
``out + kernel`` axes: element ``[..., o1..od, k1..kd]`` is ``x[..., o1*s1 + k1*d1, ...]``.
It is a View with overlapping strides, so nothing is copied until a consumer (a matrix
product, a reduction) reads it. Its gradient, and :func:`window_sum` (the adjoint that
``fold`` and transposed convolution need), is one SCATTER_ADD of the window elements into
the grid, with an index that depends on the spatial sizes only (broadcast by stride 0 over
batch and channels, so it costs no memory per sample).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from zili.errors import ShapeError
from zili.ops.view import View
from zili.tensor import functions as F
from zili.tensor.autograd import Function

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor


def window_count(size: int, kernel: int, stride: int, dilation: int) -> int:
    """How many windows of ``kernel`` taps (``dilation`` apart) fit in ``size`` at ``stride``."""
    span = dilation * (kernel - 1) + 1
    return 0 if size < span else (size - span) // stride + 1


def _grid_index(spatial: tuple[int, ...], out: tuple[int, ...], kernel: tuple[int, ...],
                stride: tuple[int, ...], dilation: tuple[int, ...]) -> np.ndarray:
    """For every window element (out..., kernel...), its flat position in the grid (the
    first ``out`` windows of each axis; a grid may have room to spare, e.g. output_padding)."""
    grid = np.arange(math.prod(spatial), dtype=np.int64).reshape(spatial)
    steps = grid.strides
    view = np.lib.stride_tricks.as_strided(
        grid, out + kernel, tuple(st * s for st, s in zip(steps, stride))
        + tuple(st * d for st, d in zip(steps, dilation)), writeable=False)
    return np.ascontiguousarray(view).reshape(-1)


def window_sum(cols: Tensor, spatial: Sequence[int], kernel: Sequence[int],
               stride: Sequence[int], dilation: Sequence[int]) -> Tensor:
    """The adjoint of :func:`windows`: ``cols`` of shape (..., *out, *kernel) added into a
    (..., *spatial) grid at the positions each window element came from (col2im / fold).
    Differentiable (SCATTER_ADD's gradient is GATHER)."""
    from zili.tensor.creation import tensor
    d = len(kernel)
    spatial, kernel = tuple(spatial), tuple(kernel)
    lead = cols.shape[:cols.ndim - 2 * d]
    out = cols.shape[cols.ndim - 2 * d:cols.ndim - d]
    for n, o, k, s, dl in zip(spatial, out, kernel, stride, dilation):
        if o > window_count(n, k, s, dl):
            raise ShapeError(f"window_sum: {out} windows of kernel {kernel} (stride {stride}, "
                             f"dilation {dilation}) do not fit a grid of {spatial}")
    positions = _grid_index(spatial, out, kernel, tuple(stride), tuple(dilation))
    strides = cols._view.strides
    if d and strides[-1] > strides[-1 - d]:
        # The kernel axes lie outside the output axes in memory (a convolution's backward
        # product gives them so): scatter in (kernel, out) order, so the regrouping copy
        # below moves whole output rows instead of gathering one tap at a time.
        axes = len(lead)
        cols = cols.permute(tuple(range(axes)) + tuple(range(axes + d, axes + 2 * d))
                            + tuple(range(axes, axes + d)))
        positions = positions.reshape(out + kernel).transpose(
            tuple(range(d, 2 * d)) + tuple(range(d))).reshape(-1)
    index = tensor(np.ascontiguousarray(positions), device=cols.device)
    flat = cols.reshape(lead + (index.shape[0],))
    index = index.reshape((1,) * len(lead) + index.shape).expand(flat.shape)
    total = F.ScatterAdd.apply(index, flat, axis=len(lead), shape=lead + (math.prod(spatial),))
    return total.reshape(lead + spatial)


class Windows(Function):
    """The sliding-window view (no device work); backward is :func:`window_sum`."""

    def forward(self, x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...],
                dilation: tuple[int, ...]) -> Tensor:
        d = len(kernel)
        view = x._view
        assert view.mask is None, "windows() copies a padded (masked) view first"
        spatial = x.shape[x.ndim - d:]
        out = tuple(window_count(n, k, s, dl) for n, k, s, dl in zip(spatial, kernel, stride,
                                                                         dilation))
        strides = view.strides[:x.ndim - d]
        inner = view.strides[x.ndim - d:]
        shape = x.shape[:x.ndim - d] + out + kernel
        new = View(shape, strides + tuple(st * s for st, s in zip(inner, stride))
                   + tuple(st * dl for st, dl in zip(inner, dilation)), view.offset)
        self.saved = (spatial, kernel, stride, dilation)
        return x._with_view(new)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        spatial, kernel, stride, dilation = self.saved
        return (window_sum(grad, spatial, kernel, stride, dilation),)


def windows(x: Tensor, kernel: Sequence[int], stride: Sequence[int] | None = None,
            dilation: Sequence[int] | None = None) -> Tensor:
    """Sliding windows over the trailing ``len(kernel)`` axes of ``x`` as a view of shape
    ``x.shape[:-d] + out + kernel`` (``out`` = windows per axis, no padding: pad first).

    Raises:
        ShapeError: if a kernel (with its dilation) is larger than its axis, or the
            sizes are not positive.
    """
    kernel = tuple(int(k) for k in kernel)
    d = len(kernel)
    stride = tuple(int(s) for s in (stride or (1,) * d))
    dilation = tuple(int(v) for v in (dilation or (1,) * d))
    if x.ndim < d:
        raise ShapeError(f"windows: a {d}-d kernel needs at least {d} axes, got shape {x.shape}")
    if min(kernel + stride + dilation, default=1) < 1:
        raise ShapeError(f"windows: kernel {kernel}, stride {stride} and dilation {dilation} "
                         "must be positive")
    for n, k, dl in zip(x.shape[x.ndim - d:], kernel, dilation):
        if dl * (k - 1) + 1 > n:
            raise ShapeError(f"windows: kernel {kernel} with dilation {dilation} is larger "
                             f"than the (padded) input of shape {x.shape}")
    if x._view.mask is not None:
        x = x.contiguous()  # materialise the padding (differentiably) before striding
    return Windows.apply(x, kernel=kernel, stride=stride, dilation=dilation)

