"""``Device.assign``: writing a value into an existing buffer through a strided view, checked
against NumPy's own strided assignment on the same layout."""

from __future__ import annotations

import numpy as np
import pytest

import zili
from zili import dtype as dtypes
from zili.ops.view import View


def _window(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[View, tuple]:
    """A random unmasked, non-overlapping view of a contiguous ``shape`` buffer, with the
    NumPy indexing steps that make the same window of an ndarray."""
    view = View(shape)
    steps: list[tuple] = []
    order = tuple(int(i) for i in rng.permutation(len(shape)))
    view = view.permute(order)
    steps.append(("T", order))
    bounds = []
    for s in view.shape:
        b = int(rng.integers(0, s))
        bounds.append((b, int(rng.integers(b + 1, s + 1))))
    view = view.shrink(tuple(bounds))
    steps.append(("S", tuple(bounds)))
    axes = tuple(int(a) for a in np.flatnonzero(rng.random(len(shape)) < 0.5))
    view = view.flip(axes)
    steps.append(("F", axes))
    return view, tuple(steps)


def _numpy_window(a: np.ndarray, steps: tuple) -> np.ndarray:
    for kind, arg in steps:
        if kind == "T":
            a = a.transpose(arg)
        elif kind == "S":
            a = a[tuple(slice(b, e) for b, e in arg)]
        else:
            a = np.flip(a, arg)
    return a


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bfloat16", "bool"])
def test_assign_through_strided_view_matches_numpy(device: str, dtype: str) -> None:
    dev = zili.get_device(device)
    dt = dtypes.to_dtype(dtype)
    rng = np.random.default_rng(7)
    for _ in range(12):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 4))))
        base = (rng.standard_normal(int(np.prod(shape))) * 4).astype(dt.numpy)
        view, steps = _window(rng, shape)
        value = (rng.standard_normal(view.shape) * 4).astype(dt.numpy)
        expected = base.copy()
        _numpy_window(expected.reshape(shape), steps)[...] = value
        buffer = dev.from_numpy(base)
        dev.assign(buffer, view, dt, (dev.from_numpy(value), View(view.shape), dt))
        got = dev.to_numpy(buffer, View((base.size,)), dt)
        np.testing.assert_array_equal(got.astype(np.float64), expected.astype(np.float64))


def test_assign_reads_value_through_its_own_view_even_from_the_same_buffer(device: str) -> None:
    dev = zili.get_device(device)
    base = np.arange(12, dtype=np.float32)
    buffer = dev.from_numpy(base)
    # x[1:, :] = x[:-1, :].T-like overlap: destination rows 1..3, source rows 0..2 flipped
    dst = View((4, 3)).shrink(((1, 4), (0, 3)))
    src = View((4, 3)).shrink(((0, 3), (0, 3))).flip((1,))
    dev.assign(buffer, dst, dtypes.float32, (buffer, src, dtypes.float32))
    expected = base.reshape(4, 3).copy()
    expected[1:] = base.reshape(4, 3)[:3, ::-1].copy()
    np.testing.assert_array_equal(dev.to_numpy(buffer, View((12,)), dtypes.float32),
                                  expected.reshape(-1))


def test_assign_refuses_masked_expanded_and_mismatched_views(device: str) -> None:
    dev = zili.get_device(device)
    buffer = dev.from_numpy(np.zeros(6, np.float32))
    value = dev.from_numpy(np.ones(8, np.float32))
    f32 = dtypes.float32
    with pytest.raises(ValueError, match="masked"):
        dev.assign(buffer, View((6,)).pad(((1, 1),)), f32, (value, View((8,)), f32))
    with pytest.raises(ValueError, match="single memory location"):
        dev.assign(buffer, View((1, 6)).expand((3, 6)), f32,
                   (value, View((3, 6), (0, 1)), f32))
    with pytest.raises(ValueError, match="does not match"):
        dev.assign(buffer, View((6,)), dtypes.float64, (value, View((6,)), f32))
    with pytest.raises(ValueError, match="outside"):
        dev.assign(buffer, View((4,), None, 4), f32, (value, View((4,)), f32))
    np.testing.assert_array_equal(dev.to_numpy(buffer, View((6,)), f32), np.zeros(6))
