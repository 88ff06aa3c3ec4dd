"""``F.pad`` (constant, reflect, replicate, circular) and ``F.interpolate`` (nearest,
nearest-exact, linear, bilinear, trilinear, bicubic, area), as in ``torch.nn.functional``.

Both work one spatial axis at a time. Non-constant padding and nearest resizing pick source
positions with an index computed on the host (a GATHER, whose gradient is SCATTER_ADD);
linear and cubic resizing multiply the axis by a small interpolation matrix (a MATMUL), the
same weights PyTorch uses, so values and gradients agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from zili.dtype import bool_
from zili.errors import ShapeError
from zili.nn.pooling import adaptive_avg, along_axis
from zili.tensor import Tensor, tensor

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    positions = np.arange(-before, size + after)
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    if mode == "circular":
        return positions % size
    period = 2 * (size - 1)  # reflect without repeating the edge
    folded = np.abs(positions) % period if period else np.zeros_like(positions)
    return np.where(folded >= size, period - folded, folded)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",  # noqa: A002
        value: float | None = None) -> Tensor:
    """Pad the trailing axes: ``pad`` = (last_before, last_after, prev_before, ...); negative
    amounts crop (constant mode). ``mode`` is constant, reflect, replicate or circular.

    Raises:
        ValueError: for an odd-length ``pad``, an unknown mode, or a reflect/circular pad
            larger than the axis allows (as PyTorch).
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding {pad} must have an even length of at most "
                         f"2 * {input.ndim} (input shape {input.shape})")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    d = len(pad) // 2
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(d)][::-1]  # first padded axis first
    first = input.ndim - d
    if mode == "constant":
        widths = ((0, 0),) * first + tuple(pairs)
        out = input.pad_axes(widths)
        if value is None or value == 0:
            return out
        inside = input._scalar(True, bool_, input.shape).pad_axes(widths)
        return inside._where(out, value)
    if value not in (None, 0):
        raise ValueError(f"pad: a fill value is only used by mode='constant', not {mode!r}")
    out = input
    for i, (before, after) in enumerate(pairs):
        axis = first + i
        size = input.shape[axis]
        limit = size - 1 if mode == "reflect" else size
        if max(before, after) > limit or min(before, after) < 0:
            raise ValueError(f"pad: {mode} padding ({before}, {after}) must be in [0, {limit}] "
                             f"for axis {axis} of size {size} (shape {input.shape})")
        index = _pad_index(size, before, after, mode).astype(np.int64)
        out = out.index_select(axis, tensor(index, device=input.device))
    return out


_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3, "bicubic": 2}
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "bicubic", "area")


def _source(dst: np.ndarray, size: int, out: int, scale: float | None, align_corners: bool,
            cubic: bool) -> np.ndarray:
    """PyTorch's area_pixel_compute_source_index."""
    if align_corners:
        ratio = (size - 1) / (out - 1) if out > 1 else 0.0
        return dst * ratio
    ratio = scale if scale is not None else size / out
    src = (dst + 0.5) * ratio - 0.5
    return src if cubic else np.maximum(src, 0.0)


def _cubic_weights(t: np.ndarray, a: float = -0.75) -> list[np.ndarray]:
    def near(x: np.ndarray) -> np.ndarray:
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: np.ndarray) -> np.ndarray:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _matrix(size: int, out: int, scale: float | None, mode: str,
            align_corners: bool) -> np.ndarray:
    dst = np.arange(out, dtype=np.float64)
    m = np.zeros((out, size))
    rows = np.arange(out)
    if mode == "bicubic":
        src = _source(dst, size, out, scale, align_corners, cubic=True)
        base = np.floor(src)
        for tap, w in zip(range(-1, 3), _cubic_weights(src - base)):
            np.add.at(m, (rows, np.clip(base.astype(np.int64) + tap, 0, size - 1)), w)
        return m
    src = _source(dst, size, out, scale, align_corners, cubic=False)
    low = np.minimum(np.floor(src).astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    frac = src - low
    np.add.at(m, (rows, low), 1.0 - frac)
    np.add.at(m, (rows, high), frac)
    return m


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None,  # noqa: A002
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """Resize the spatial axes of (N, C, *spatial) to ``size`` or by ``scale_factor`` with
    PyTorch's ``mode`` and ``align_corners`` semantics.

    Raises:
        ValueError: for an unknown mode, both or neither of size/scale_factor,
            ``align_corners`` with a mode that has no corners, a mode that does not match
            the number of spatial axes, or ``antialias`` (not supported).
    """
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {_MODES}, got {mode!r}")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported by zili")
    d = input.ndim - 2
    if d < 1:
        raise ShapeError(f"interpolate: expected (N, C, *spatial), got shape {input.shape}")
    if mode in _LINEAR and (_LINEAR[mode] != d):
        raise ValueError(f"interpolate: mode {mode!r} needs {_LINEAR[mode]} spatial axes, "
                         f"got input of shape {input.shape}")
    if align_corners is not None and mode not in _LINEAR:
        raise ValueError(f"interpolate: align_corners only applies to linear and cubic modes, "
                         f"not {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    spatial = input.shape[2:]
    if size is not None:
        outs = (int(size),) * d if isinstance(size, int) else tuple(int(s) for s in size)
        scales: list[float | None] = [None] * d
    else:
        factors = (float(scale_factor),) * d if isinstance(scale_factor, (int, float)) else \
            tuple(float(f) for f in scale_factor)
        outs = tuple(int(math.floor(n * f)) for n, f in zip(spatial, factors))
        scales = [None if recompute_scale_factor else 1.0 / f for f in factors]
    if len(outs) != d or min(outs, default=1) < 1:
        raise ValueError(f"interpolate: output size {outs} must have {d} positive values")
    if mode == "area":
        return adaptive_avg(input, d, outs, "interpolate")
    x = input
    for i, (n, out, scale) in enumerate(zip(spatial, outs, scales)):
        axis = 2 + i
        if mode in ("nearest", "nearest-exact"):
            ratio = scale if scale is not None else n / out
            shift = 0.5 if mode == "nearest-exact" else 0.0
            src = np.minimum(np.floor((np.arange(out) + shift) * ratio).astype(np.int64), n - 1)
            x = x.index_select(axis, tensor(src, device=x.device))
        else:
            x = along_axis(x, axis, _matrix(n, out, scale, mode, bool(align_corners)))
    return x


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None,  # noqa: A002
             mode: str = "nearest", align_corners: bool | None = None) -> Tensor:
    """Deprecated PyTorch alias of :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)
