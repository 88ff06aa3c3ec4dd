"""Pooling as in ``torch.nn.functional``: max, average, adaptive and unpooling, for 1, 2
and 3 spatial axes, written once over sliding-window views.

Max pooling pads with -inf, takes windows (:func:`zili.tensor.window.windows`, a view) and
picks the first maximum of each window, so the gradient goes to that one element as in
PyTorch. Average pooling sums windows and divides by the counted taps. Adaptive pooling is
separable: one axis at a time, an averaging matrix (mean) or a gather of the variable-size
windows (max).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from zili import dtype as dtypes
from zili.errors import ShapeError
from zili.nn.conv import IntOrTuple, batched_input, ntuple, pad_spatial
from zili.tensor import Tensor, arange, ones, tensor
from zili.tensor.window import windows


def _out_size(size: int, k: int, s: int, p: int, dl: int, ceil_mode: bool) -> int:
    span = dl * (k - 1) + 1
    numerator = size + 2 * p - span
    out = (-(-numerator // s) if ceil_mode else numerator // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:  # the last window must start inside
        out -= 1
    return out


def _pool_geometry(x: Tensor, d: int, kernel_size: IntOrTuple, stride: Any,
                   padding: IntOrTuple, dilation: IntOrTuple, ceil_mode: bool,
                   op: str) -> tuple[tuple[int, ...], ...]:
    kernel = ntuple(kernel_size, d, "kernel_size", op)
    stride_t = kernel if stride is None or stride == [] or stride == () else \
        ntuple(stride, d, "stride", op)
    pads = ntuple(padding, d, "padding", op)
    dil = ntuple(dilation, d, "dilation", op)
    if min(kernel + stride_t + dil) < 1:
        raise ValueError(f"{op}: kernel_size {kernel}, stride {stride_t} and dilation {dil} "
                         "must be positive")
    if any(2 * p > k for p, k in zip(pads, kernel)):
        raise ValueError(f"{op}: padding {pads} must be at most half of kernel_size {kernel}")
    sizes = x.shape[2:]
    outs = tuple(_out_size(n, k, s, p, dl, ceil_mode) for n, k, s, p, dl in
                 zip(sizes, kernel, stride_t, pads, dil))
    if min(outs) < 1:
        raise ShapeError(f"{op}: input of shape {x.shape} is too small for kernel {kernel} "
                         f"(padding {pads}, dilation {dil}); the output would be empty")
    # padding after = what the last window needs beyond the input (ceil_mode may add some)
    after = tuple((o - 1) * s + dl * (k - 1) + 1 - n - p for o, s, dl, k, n, p in
                  zip(outs, stride_t, dil, kernel, sizes, pads))
    return kernel, stride_t, pads, dil, outs, after


def _pad_value(x: Tensor, pads: Sequence[tuple[int, int]], value: float) -> Tensor:
    """``x`` padded on its trailing axes with ``value`` (a view plus one select)."""
    if all(p == (0, 0) for p in pads):
        return x
    inside = pad_spatial(ones(x.shape[x.ndim - len(pads):], dtype=dtypes.bool_,
                              device=x.device), pads)
    return inside._where(pad_spatial(x, pads), value)


def _kernel_rank(kernel: tuple[int, ...], device: Any) -> Tensor:
    """K - flat kernel index, shaped like the kernel (larger for earlier taps)."""
    taps = math.prod(kernel)
    return arange(taps, 0, -1, dtype=dtypes.int64, device=device).reshape(kernel)


def _max_pool(x: Tensor, d: int, kernel_size: IntOrTuple, stride: Any, padding: IntOrTuple,
              dilation: IntOrTuple, ceil_mode: bool, return_indices: bool, op: str) -> Any:
    x, unbatched = batched_input(x, d, op)
    kernel, st, pads, dil, outs, after = _pool_geometry(x, d, kernel_size, stride, padding,
                                                        dilation, ceil_mode, op)
    bounds = [(p, max(a, 0)) for p, a in zip(pads, after)]
    low = float("-inf") if x.dtype.is_floating_point else int(np.iinfo(x.dtype.numpy).min)
    win = windows(_pad_value(x, bounds, low), kernel, st, dil)
    win = win.shrink(tuple((0, s) for s in x.shape[:2]) + tuple((0, o) for o in outs)
                     + tuple((0, k) for k in kernel))
    axes = tuple(range(2 + d, 2 + 2 * d))
    data = win.detach()
    peak = data.amax(axes, keepdim=True)
    hit = (data == peak) | data.isnan() if x.dtype.is_floating_point else data == peak
    rank = _kernel_rank(kernel, x.device)
    first = hit._where(rank, 0).amax(axes, keepdim=True)  # rank of the first maximum
    chosen = rank == first
    values = chosen._where(win, win._scalar(0)).sum(axes) if x.dtype.is_floating_point \
        else chosen._where(win, win._scalar(0)).sum(axes).to(x.dtype)
    if not return_indices:
        return values.squeeze(0) if unbatched else values
    # flat kernel index -> input position (row-major over the unpadded spatial axes)
    tap = math.prod(kernel) - first.reshape(first.shape[:2 + d])
    position = None
    sizes = x.shape[2:]
    for axis in range(d):
        inner = math.prod(kernel[axis + 1:])
        k_axis = (tap // inner) % kernel[axis]
        shape = tuple(outs[axis] if i == axis else 1 for i in range(d))
        start = arange(outs[axis], dtype=dtypes.int64, device=x.device).reshape(shape)
        coord = start * st[axis] - pads[axis] + k_axis * dil[axis]
        position = coord if position is None else position * sizes[axis] + coord
    assert position is not None
    if unbatched:
        values, position = values.squeeze(0), position.squeeze(0)
    return values, position


def max_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: Any = None,  # noqa: A002
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over sliding windows of (N, C, L); with ``return_indices`` also the argmax
    positions (as PyTorch). Raises ShapeError/ValueError for a bad geometry."""
    return _max_pool(input, 1, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool1d")


def max_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: Any = None,  # noqa: A002
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over sliding windows of (N, C, H, W); with ``return_indices`` also the flat
    argmax positions in each H*W plane. Raises ShapeError/ValueError for a bad geometry."""
    return _max_pool(input, 2, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool2d")


def max_pool3d(input: Tensor, kernel_size: IntOrTuple, stride: Any = None,  # noqa: A002
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over sliding windows of (N, C, D, H, W) (and argmax positions on request).
    Raises ShapeError/ValueError for a bad geometry."""
    return _max_pool(input, 3, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool3d")


def _avg_pool(x: Tensor, d: int, kernel_size: IntOrTuple, stride: Any, padding: IntOrTuple,
              ceil_mode: bool, count_include_pad: bool, divisor_override: int | None,
              op: str) -> Tensor:
    x, unbatched = batched_input(x, d, op)
    kernel, st, pads, dil, outs, after = _pool_geometry(x, d, kernel_size, stride, padding,
                                                        1, ceil_mode, op)
    bounds = [(p, max(a, 0)) for p, a in zip(pads, after)]
    win = windows(pad_spatial(x, bounds), kernel, st, dil)
    win = win.shrink(tuple((0, s) for s in x.shape[:2]) + tuple((0, o) for o in outs)
                     + tuple((0, k) for k in kernel))
    total = win.sum(tuple(range(2 + d, 2 + 2 * d)))
    if divisor_override is not None:
        out = total / divisor_override
    else:
        # taps counted per window: inside the input, plus the zero padding when included
        # (never the extra ceil_mode overhang), exactly as PyTorch divides.
        sizes = x.shape[2:]
        grid = np.ones(sizes, np.float64)
        if count_include_pad:
            grid = np.pad(grid, [(p, p) for p in pads], constant_values=1.0)
            grid = np.pad(grid, [(0, max(b - p, 0)) for (_, b), p in zip(bounds, pads)])
        else:
            grid = np.pad(grid, bounds)
        view = np.lib.stride_tricks.sliding_window_view(grid, kernel)
        counts = view[tuple(slice(0, o * s, s) for o, s in zip(outs, st))].sum(
            axis=tuple(range(d, 2 * d)))
        out = total / tensor(counts.astype(x.dtype.numpy), device=x.device)
    return out.squeeze(0) if unbatched else out


def avg_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: Any = None,  # noqa: A002
               padding: IntOrTuple = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over sliding windows of (N, C, L), as PyTorch. Raises ShapeError/ValueError."""
    return _avg_pool(input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     None, "avg_pool1d")


def avg_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: Any = None,  # noqa: A002
               padding: IntOrTuple = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over sliding windows of (N, C, H, W), as PyTorch. Raises ShapeError/ValueError."""
    return _avg_pool(input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, "avg_pool2d")


def avg_pool3d(input: Tensor, kernel_size: IntOrTuple, stride: Any = None,  # noqa: A002
               padding: IntOrTuple = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over sliding windows of (N, C, D, H, W). Raises ShapeError/ValueError."""
    return _avg_pool(input, 3, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, "avg_pool3d")


def _adaptive_ranges(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows: [floor(i*L/O), ceil((i+1)*L/O))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def along_axis(x: Tensor, axis: int, matrix: np.ndarray) -> Tensor:
    """Apply the (out, in) host ``matrix`` to axis ``axis`` of ``x`` (one matrix product;
    separable pooling and interpolation use it)."""
    m = tensor(matrix.astype(x.dtype.numpy), device=x.device)
    moved = x.transpose(axis, -1)
    return moved.matmul(m.T).transpose(axis, -1)


def _adaptive_sizes(x: Tensor, d: int, output_size: Any, op: str) -> tuple[int, ...]:
    sizes = (output_size,) * d if isinstance(output_size, int) or output_size is None \
        else tuple(output_size)
    if len(sizes) != d:
        raise ShapeError(f"{op}: output_size must be an int or {d} values, got {output_size!r}")
    return tuple(x.shape[x.ndim - d + i] if s is None else int(s) for i, s in enumerate(sizes))


def adaptive_avg(x: Tensor, d: int, output_size: Any, op: str) -> Tensor:
    """Adaptive average pooling of the trailing ``d`` axes, one axis at a time (``op`` names
    the caller in errors).

    Raises:
        ShapeError: for a wrong number of axes; TypeError for a non-float input.
    """
    if x.ndim not in (d + 1, d + 2):
        raise ShapeError(f"{op}: expected a {d + 1}-d or {d + 2}-d input, got shape {x.shape}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}: needs a floating-point input, got {x.dtype.name}")
    outs = _adaptive_sizes(x, d, output_size, op)
    for i, out in enumerate(outs):
        axis = x.ndim - d + i
        size = x.shape[axis]
        if out == size:
            continue
        matrix = np.zeros((out, size))
        for row, (a, b) in enumerate(_adaptive_ranges(size, out)):
            matrix[row, a:b] = 1.0 / (b - a)
        x = along_axis(x, axis, matrix)
    return x


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Mean over PyTorch's adaptive windows of (N, C, L). Raises ShapeError."""
    return adaptive_avg(input, 1, output_size, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Mean over PyTorch's adaptive windows of (N, C, H, W). Raises ShapeError."""
    return adaptive_avg(input, 2, output_size, "adaptive_avg_pool2d")


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """Mean over PyTorch's adaptive windows of (N, C, D, H, W). Raises ShapeError."""
    return adaptive_avg(input, 3, output_size, "adaptive_avg_pool3d")


def _adaptive_max(x: Tensor, d: int, output_size: Any, return_indices: bool, op: str) -> Any:
    if x.ndim not in (d + 1, d + 2):
        raise ShapeError(f"{op}: expected a {d + 1}-d or {d + 2}-d input, got shape {x.shape}")
    outs = _adaptive_sizes(x, d, output_size, op)
    spatial = x.shape[x.ndim - d:]
    # Max over a box is separable, but the argmax is not: gather every window element once
    # (padded to the widest window by repeating its last element) and take the first max.
    lead = x.shape[:x.ndim - d]
    widths = []
    picks = []
    for size, out in zip(spatial, outs):
        ranges = _adaptive_ranges(size, out)
        width = max(b - a for a, b in ranges)
        widths.append(width)
        picks.append(np.array([[min(a + j, b - 1) for j in range(width)] for a, b in ranges]))
    grids = np.meshgrid(*[p.reshape(-1) for p in picks], indexing="ij")
    flat = np.ravel_multi_index(grids, spatial)  # (O1*W1, O2*W2, ...)
    flat = flat.reshape(tuple(v for o, w in zip(outs, widths) for v in (o, w)))
    order = tuple(range(0, 2 * d, 2)) + tuple(range(1, 2 * d, 2))
    flat = flat.transpose(order).reshape(-1)  # (*outs, *widths) row-major
    index = tensor(flat.astype(np.int64), device=x.device)
    merged = x.reshape(lead + (math.prod(spatial),))
    gathered = merged.index_select(len(lead), index).reshape(lead + outs + tuple(widths))
    axes = tuple(range(len(lead) + d, len(lead) + 2 * d))
    data = gathered.detach()
    hit = (data == data.amax(axes, keepdim=True)) | data.isnan()
    rank = _kernel_rank(tuple(widths), x.device)
    first = hit._where(rank, 0).amax(axes, keepdim=True)
    chosen = rank == first
    values = chosen._where(gathered, gathered._scalar(0)).sum(axes)
    if not return_indices:
        return values
    positions = tensor(flat.reshape(outs + tuple(widths)).astype(np.int64), device=x.device)
    picked = chosen._where(positions.expand(gathered.shape), 0).sum(axes)
    return values, picked


def adaptive_max_pool1d(input: Tensor, output_size: Any,  # noqa: A002
                        return_indices: bool = False) -> Any:
    """Max over PyTorch's adaptive windows of (N, C, L). Raises ShapeError."""
    return _adaptive_max(input, 1, output_size, return_indices, "adaptive_max_pool1d")


def adaptive_max_pool2d(input: Tensor, output_size: Any,  # noqa: A002
                        return_indices: bool = False) -> Any:
    """Max over PyTorch's adaptive windows of (N, C, H, W). Raises ShapeError."""
    return _adaptive_max(input, 2, output_size, return_indices, "adaptive_max_pool2d")


def adaptive_max_pool3d(input: Tensor, output_size: Any,  # noqa: A002
                        return_indices: bool = False) -> Any:
    """Max over PyTorch's adaptive windows of (N, C, D, H, W). Raises ShapeError."""
    return _adaptive_max(input, 3, output_size, return_indices, "adaptive_max_pool3d")


def _max_unpool(x: Tensor, indices: Tensor, d: int, kernel_size: IntOrTuple, stride: Any,
                padding: IntOrTuple, output_size: Any, op: str) -> Tensor:
    x_b, unbatched = batched_input(x, d, op)
    idx = indices.unsqueeze(0) if unbatched else indices
    if idx.shape != x_b.shape:
        raise ShapeError(f"{op}: indices of shape {indices.shape} must match input {x.shape}")
    kernel = ntuple(kernel_size, d, "kernel_size", op)
    st = kernel if stride is None else ntuple(stride, d, "stride", op)
    pads = ntuple(padding, d, "padding", op)
    if output_size is None:
        sizes = tuple((n - 1) * s - 2 * p + k for n, s, p, k in
                      zip(x_b.shape[2:], st, pads, kernel))
    else:
        sizes = tuple(output_size)[-d:]
    n, c = x_b.shape[:2]
    plane = math.prod(sizes)
    flat_idx = idx.reshape(n, c, -1).to(dtypes.int64)
    if flat_idx.numel() and (int(flat_idx.min().item()) < 0 or
                             int(flat_idx.max().item()) >= plane):
        raise IndexError(f"{op}: an index is outside the output plane of {plane} elements "
                         f"(output size {sizes})")
    out = x_b._scalar(0, x_b.dtype, (n, c, plane)).scatter_add(2, flat_idx,
                                                              x_b.reshape(n, c, -1))
    out = out.reshape((n, c) + sizes)
    return out.squeeze(0) if unbatched else out


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: IntOrTuple,  # noqa: A002
                 stride: Any = None, padding: IntOrTuple = 0, output_size: Any = None) -> Tensor:
    """Inverse of max_pool1d: values placed at their indices, zeros elsewhere."""
    return _max_unpool(input, indices, 1, kernel_size, stride, padding, output_size,
                       "max_unpool1d")


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: IntOrTuple,  # noqa: A002
                 stride: Any = None, padding: IntOrTuple = 0, output_size: Any = None) -> Tensor:
    """Inverse of max_pool2d: values placed at their flat H*W indices, zeros elsewhere.

    Raises:
        ShapeError: if indices and input differ in shape; IndexError for an index outside
            the output plane.
    """
    return _max_unpool(input, indices, 2, kernel_size, stride, padding, output_size,
                       "max_unpool2d")


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size: IntOrTuple,  # noqa: A002
                 stride: Any = None, padding: IntOrTuple = 0, output_size: Any = None) -> Tensor:
    """Inverse of max_pool3d: values placed at their indices, zeros elsewhere."""
    return _max_unpool(input, indices, 3, kernel_size, stride, padding, output_size,
                       "max_unpool3d")
