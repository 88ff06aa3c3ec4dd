"""Convolutions as in ``torch.nn.functional``: ``conv1d/2d/3d``, ``conv_transpose1d/2d/3d``,
``unfold`` and ``fold``, written once for any number of spatial axes.

A convolution is im2col and one matrix product: pad (a view), take sliding windows (a view
with overlapping strides, :func:`zili.tensor.window.windows`), and multiply the windows by
the flattened weight. A transposed convolution is the adjoint: one matrix product, then the
window elements are added into the output grid (:func:`zili.tensor.window.window_sum`).
Every device runs them, because only primitives are involved; gradients come from the
primitives' rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from zili.errors import ShapeError
from zili.tensor import Tensor
from zili.tensor.window import window_count, window_sum, windows

IntOrTuple = int | Sequence[int]


def ntuple(value: IntOrTuple, d: int, name: str, op: str) -> tuple[int, ...]:
    """``value`` as a d-tuple of ints (an int is repeated), as PyTorch's ``_ntuple``.

    Raises:
        ShapeError: for a sequence of the wrong length.
    """
    if isinstance(value, int):
        return (value,) * d
    out = tuple(int(v) for v in value)
    if len(out) == 1:
        return out * d
    if len(out) != d:
        raise ShapeError(f"{op}: {name} must be an int or {d} ints, got {value!r}")
    return out


def batched_input(x: Tensor, d: int, op: str) -> tuple[Tensor, bool]:
    """(N, C, *spatial) input; an unbatched (C, *spatial) one gets a batch axis of 1, and the
    flag says so.

    Raises:
        ShapeError: for any other number of axes.
    """
    if x.ndim == d + 1:
        return x.unsqueeze(0), True
    if x.ndim != d + 2:
        raise ShapeError(f"{op}: expected a {d + 1}-d (unbatched) or {d + 2}-d (batched) "
                         f"input, got shape {x.shape}")
    return x, False


def pad_spatial(x: Tensor, pads: Sequence[tuple[int, int]]) -> Tensor:
    """Zero padding (before, after) on the trailing len(pads) axes (a view)."""
    lead = x.ndim - len(pads)
    return x.pad_axes(((0, 0),) * lead + tuple(pads))


def conv_padding(padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...],
                 stride: tuple[int, ...], op: str) -> tuple[tuple[int, int], ...]:
    """Per-axis (before, after) padding for an int, a tuple, ``'valid'`` or ``'same'``
    (extra padding of an odd total goes after, as PyTorch).

    Raises:
        ValueError: for ``'same'`` with a stride above 1, or an unknown string.
    """
    d = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride {stride}), as in PyTorch")
            totals = [dl * (k - 1) for k, dl in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"{op}: padding must be 'same', 'valid', an int or a tuple, got "
                         f"{padding!r}")
    pads = ntuple(padding, d, "padding", op)
    if min(pads) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {pads}")
    return tuple((p, p) for p in pads)


def _conv(x: Tensor, weight: Tensor, bias: Tensor | None, stride: IntOrTuple, padding: Any,
          dilation: IntOrTuple, groups: int, d: int, op: str) -> Tensor:
    x, unbatched = batched_input(x, d, op)
    if weight.ndim != d + 2:
        raise ShapeError(f"{op}: weight must have {d + 2} axes (out, in/groups, *kernel), got "
                         f"shape {weight.shape}")
    kernel = weight.shape[2:]
    stride_t = ntuple(stride, d, "stride", op)
    dilation_t = ntuple(dilation, d, "dilation", op)
    n, channels = x.shape[:2]
    out_channels = weight.shape[0]
    if groups < 1 or channels % groups or out_channels % groups:
        raise ShapeError(f"{op}: groups={groups} must divide the input channels ({channels}) "
                         f"and output channels ({out_channels})")
    if weight.shape[1] * groups != channels:
        raise ShapeError(f"{op}: input of shape {x.shape} has {channels} channels but weight "
                         f"of shape {weight.shape} expects {weight.shape[1] * groups} "
                         f"(weight.shape[1] * groups={groups})")
    if min(stride_t + dilation_t) < 1:
        raise ValueError(f"{op}: stride {stride_t} and dilation {dilation_t} must be positive")
    pads = conv_padding(padding, kernel, dilation_t, stride_t, op)
    if x.dtype is not weight.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype.name} and weight dtype "
                        f"{weight.dtype.name} differ; cast one of them")
    cols = windows(pad_spatial(x, pads), kernel, stride_t, dilation_t)
    out_sizes = cols.shape[2:2 + d]
    positions, taps = math.prod(out_sizes), math.prod(kernel)
    g, cg, og = groups, channels // groups, out_channels // groups
    # (N, C, *out, *k) -> (G, Cg, *k, N, *out) -> (G, Cg*K, N*P): im2col with the output
    # positions innermost, so the copy reads the input's rows in order and the product is one
    # (Og x Cg*K) @ (Cg*K x N*P) per group. Its backward then yields the window gradient in
    # (Cg, K, N, P) order, which the window sum regroups per (image, channel) cheaply (the
    # (N*P, Cg*K) layout needed a transposing copy across the whole tensor there).
    cols = cols.reshape((n, g, cg) + out_sizes + kernel)
    order = (1, 2) + tuple(range(3 + d, 3 + 2 * d)) + (0,) + tuple(range(3, 3 + d))
    cols = cols.permute(order).reshape(g, cg * taps, n * positions)
    out = weight.reshape(g, og, cg * taps).matmul(cols)  # (G, Og, N*P)
    out = out.reshape(g, og, n, positions).permute(2, 0, 1, 3)
    out = out.reshape((n, out_channels) + out_sizes)
    if bias is not None:
        out = out + bias.reshape((out_channels,) + (1,) * d)
    return out.squeeze(0) if unbatched else out


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
           stride: IntOrTuple = 1, padding: Any = 0, dilation: IntOrTuple = 1,
           groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) of (N, C, L) by (O, C/groups, K), as PyTorch.

    Raises:
        ShapeError: for shapes, channels or groups that do not fit; ValueError for a bad
            padding string or a non-positive stride/dilation.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
           stride: IntOrTuple = 1, padding: Any = 0, dilation: IntOrTuple = 1,
           groups: int = 1) -> Tensor:
    """2-D convolution of (N, C, H, W) by (O, C/groups, kH, kW), as PyTorch.

    Raises:
        ShapeError: for shapes, channels or groups that do not fit; ValueError for a bad
            padding string or a non-positive stride/dilation.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
           stride: IntOrTuple = 1, padding: Any = 0, dilation: IntOrTuple = 1,
           groups: int = 1) -> Tensor:
    """3-D convolution of (N, C, D, H, W) by (O, C/groups, kD, kH, kW), as PyTorch.

    Raises:
        ShapeError: for shapes, channels or groups that do not fit; ValueError for a bad
            padding string or a non-positive stride/dilation.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 3, "conv3d")


def _conv_transpose(x: Tensor, weight: Tensor, bias: Tensor | None, stride: IntOrTuple,
                    padding: IntOrTuple, output_padding: IntOrTuple, groups: int,
                    dilation: IntOrTuple, d: int, op: str) -> Tensor:
    x, unbatched = batched_input(x, d, op)
    if weight.ndim != d + 2:
        raise ShapeError(f"{op}: weight must have {d + 2} axes (in, out/groups, *kernel), got "
                         f"shape {weight.shape}")
    n, channels = x.shape[:2]
    kernel = weight.shape[2:]
    stride_t = ntuple(stride, d, "stride", op)
    dilation_t = ntuple(dilation, d, "dilation", op)
    pads = ntuple(padding, d, "padding", op)
    extra = ntuple(output_padding, d, "output_padding", op)
    if groups < 1 or channels % groups or weight.shape[0] != channels:
        raise ShapeError(f"{op}: input of shape {x.shape} does not fit weight of shape "
                         f"{weight.shape} with groups={groups} (weight.shape[0] must equal "
                         "the input channels, divisible by groups)")
    if any(e >= max(s, dl) for e, s, dl in zip(extra, stride_t, dilation_t)):
        raise ValueError(f"{op}: output_padding {extra} must be smaller than stride "
                         f"{stride_t} or dilation {dilation_t}")
    g, cg, og = groups, channels // groups, weight.shape[1]
    out_channels = og * g
    sizes = x.shape[2:]
    positions, taps = math.prod(sizes), math.prod(kernel)
    # Each input position spreads weight * value over its window of the output grid.
    rows = x.reshape(n, g, cg, positions).transpose(2, 3)  # (N, G, P, Cg)
    w = weight.reshape(g, cg, og * taps)  # (G, Cg, Og*K)
    cols = rows.matmul(w) if g > 1 else rows.reshape(n * positions, cg).matmul(
        w.reshape(cg, og * taps)).reshape(n, 1, positions, og * taps)
    # (N, G, P, Og, *k) -> (N, G, Og, *in, *k)
    cols = cols.reshape((n, g) + sizes + (og,) + kernel)
    order = (0, 1, 2 + d) + tuple(range(2, 2 + d)) + tuple(range(3 + d, 3 + 2 * d))
    cols = cols.permute(order).reshape((n, out_channels) + sizes + kernel)
    full = tuple((s - 1) * st + dl * (k - 1) + 1 + e for s, st, dl, k, e in
                 zip(sizes, stride_t, dilation_t, kernel, extra))
    grid = window_sum(cols, full, kernel, stride_t, dilation_t)
    if any(2 * p >= f for p, f in zip(pads, full)):
        raise ShapeError(f"{op}: padding {pads} leaves no output for input shape {x.shape}")
    out = grid.shrink(((0, n), (0, out_channels)) + tuple((p, f - p) for p, f in
                                                          zip(pads, full)))
    if bias is not None:
        out = out + bias.reshape((out_channels,) + (1,) * d)
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """1-D transposed convolution of (N, C, L) by (C, O/groups, K), as PyTorch.

    Raises:
        ShapeError: for shapes that do not fit; ValueError for a bad output_padding.
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1, "conv_transpose1d")


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """2-D transposed convolution of (N, C, H, W) by (C, O/groups, kH, kW), as PyTorch.

    Raises:
        ShapeError: for shapes that do not fit; ValueError for a bad output_padding.
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2, "conv_transpose2d")


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """3-D transposed convolution of (N, C, D, H, W) by (C, O/groups, kD, kH, kW).

    Raises:
        ShapeError: for shapes that do not fit; ValueError for a bad output_padding.
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 3, "conv_transpose3d")


def unfold(input: Tensor, kernel_size: IntOrTuple, dilation: IntOrTuple = 1,  # noqa: A002
           padding: IntOrTuple = 0, stride: IntOrTuple = 1) -> Tensor:
    """im2col of a (N, C, H, W) or (C, H, W) input: (N, C*kH*kW, L) blocks, as PyTorch.

    Raises:
        ShapeError: for an input that is not 3-d or 4-d, or a kernel larger than the input.
    """
    x, unbatched = batched_input(input, 2, "unfold")
    kernel = ntuple(kernel_size, 2, "kernel_size", "unfold")
    pads = ntuple(padding, 2, "padding", "unfold")
    cols = windows(pad_spatial(x, [(p, p) for p in pads]), kernel,
                   ntuple(stride, 2, "stride", "unfold"), ntuple(dilation, 2, "dilation",
                                                                 "unfold"))
    n, c, oh, ow = cols.shape[:4]
    out = cols.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kernel[0] * kernel[1], oh * ow)
    return out.squeeze(0) if unbatched else out


def fold(input: Tensor, output_size: IntOrTuple, kernel_size: IntOrTuple,  # noqa: A002
         dilation: IntOrTuple = 1, padding: IntOrTuple = 0, stride: IntOrTuple = 1) -> Tensor:
    """col2im: (N, C*kH*kW, L) blocks summed into (N, C, *output_size), as PyTorch.

    Raises:
        ShapeError: if the block count or size does not match the output size and kernel.
    """
    batched = input.ndim == 3
    x = input if batched else input.unsqueeze(0)
    if x.ndim != 3:
        raise ShapeError(f"fold: expected a 2-d or 3-d input, got shape {input.shape}")
    size = ntuple(output_size, 2, "output_size", "fold")
    kernel = ntuple(kernel_size, 2, "kernel_size", "fold")
    dl = ntuple(dilation, 2, "dilation", "fold")
    pads = ntuple(padding, 2, "padding", "fold")
    st = ntuple(stride, 2, "stride", "fold")
    padded = tuple(s + 2 * p for s, p in zip(size, pads))
    counts = tuple(window_count(s, k, t, v) for s, k, t, v in zip(padded, kernel, st, dl))
    n, ck, blocks = x.shape
    taps = kernel[0] * kernel[1]
    if ck % taps or blocks != counts[0] * counts[1]:
        raise ShapeError(f"fold: input of shape {input.shape} does not match output_size "
                         f"{size} with kernel {kernel}: expected (N, C*{taps}, "
                         f"{counts[0] * counts[1]})")
    c = ck // taps
    cols = x.reshape(n, c, kernel[0], kernel[1], counts[0], counts[1]).permute(0, 1, 4, 5, 2, 3)
    grid = window_sum(cols, padded, kernel, st, dl)
    out = grid.shrink(((0, n), (0, c)) + tuple((p, p + s) for p, s in zip(pads, size)))
    return out if batched else out.squeeze(0)
