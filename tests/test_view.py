"""View movement math against NumPy's own strided views: the same chain of permute, expand,
shrink, pad, flip and reshape applied to an ndarray and to a View read by the numpy device."""

from __future__ import annotations

import numpy as np
import pytest

from zili.devices.numpy import read
from zili.ops.view import View, contiguous_strides


def _apply_numpy(a: np.ndarray, op: str, arg: object) -> np.ndarray | None:
    if op == "permute":
        return a.transpose(arg)
    if op == "expand":
        return np.broadcast_to(a, arg)
    if op == "shrink":
        return a[tuple(slice(b, e) for b, e in arg)]
    if op == "pad":
        return np.pad(a, arg)
    if op == "flip":
        return np.flip(a, arg)
    if op == "reshape":
        return a.reshape(arg)
    raise AssertionError(op)


def _random_op(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[str, object]:
    ndim = len(shape)
    op = rng.choice(["permute", "expand", "shrink", "pad", "flip", "reshape"])
    if op == "permute":
        return op, tuple(int(i) for i in rng.permutation(ndim))
    if op == "expand":
        return op, tuple(int(rng.integers(1, 4)) if s == 1 else s for s in shape)
    if op == "shrink":
        bounds = []
        for s in shape:
            b = int(rng.integers(0, s + 1))
            bounds.append((b, int(rng.integers(b, s + 1))))
        return op, tuple(bounds)
    if op == "pad":
        return op, tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in shape)
    if op == "flip":
        return op, tuple(int(a) for a in np.flatnonzero(rng.random(ndim) < 0.5))
    # reshape: merge two neighbours, split one axis, or add/drop a size-1 axis
    shape = list(shape)
    choice = int(rng.integers(0, 3))
    if choice == 0 and ndim >= 2:
        i = int(rng.integers(0, ndim - 1))
        shape[i:i + 2] = [shape[i] * shape[i + 1]]
    elif choice == 1 and ndim:
        i = int(rng.integers(0, ndim))
        s = shape[i]
        for f in (2, 3):
            if s % f == 0 and s > f:
                shape[i:i + 1] = [f, s // f]
                break
    else:
        shape.insert(int(rng.integers(0, ndim + 1)), 1)
    return "reshape", tuple(shape)


def _apply_view(view: View, op: str, arg: object) -> View | None:
    return getattr(view, op)(arg)


@pytest.mark.parametrize("seed", range(40))
def test_random_movement_chains_match_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 4))))
    buffer = np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64)  # nonzero: pads show
    expected = buffer.reshape(shape)
    view = View(shape)
    for _ in range(8):
        op, arg = _random_op(rng, view.shape)
        expected = _apply_numpy(expected, op, arg)
        moved = _apply_view(view, op, arg)
        if moved is None:  # reshape needs a copy: do what the tensor layer does
            assert op == "reshape"
            buffer = np.ascontiguousarray(read(buffer, view)).reshape(-1)
            moved = View(view.shape).reshape(arg)
        view = moved
        assert view.shape == expected.shape, (op, arg)
        got = read(buffer, view)
        np.testing.assert_array_equal(got, expected, err_msg=f"after {op}{arg}: {view}")
        low, high = view.buffer_span()
        assert 0 <= low <= high <= buffer.size or view.numel == 0 or \
            (view.mask and any(b >= e for b, e in view.mask))


def test_reshape_stays_a_view_exactly_when_numpy_can() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        shape = tuple(int(s) for s in rng.integers(1, 4, size=3))
        base = np.arange(int(np.prod(shape)), dtype=np.int64)
        order = tuple(int(i) for i in rng.permutation(3))
        a = base.reshape(shape).transpose(order)
        view = View(shape).permute(order)
        target = (int(np.prod(a.shape[:2])), a.shape[2]) if rng.random() < 0.5 else \
            (a.shape[0], int(np.prod(a.shape[1:])))
        numpy_view = a.view()
        try:
            numpy_view.shape = target  # raises when NumPy would need a copy
            numpy_can = True
        except AttributeError:
            numpy_can = False
        moved = view.reshape(target)
        if numpy_can:
            assert moved is not None, (shape, order, target)
        if moved is not None:
            np.testing.assert_array_equal(read(base, moved), a.reshape(target))


def test_contiguous_strides_and_flags() -> None:
    assert contiguous_strides((2, 3, 4)) == (12, 4, 1)
    assert contiguous_strides((2, 1, 4)) == (4, 0, 1)
    assert View((2, 3)).contiguous
    assert not View((2, 3)).permute((1, 0)).contiguous
    assert not View((3,)).pad(((1, 0),)).contiguous
    v = View((4, 5)).shrink(((1, 3), (0, 5)))
    assert v.contiguous and v.offset == 5  # a row window is still contiguous memory


def test_pad_then_shrink_back_removes_mask() -> None:
    v = View((3, 4)).pad(((1, 2), (0, 3)))
    assert v.mask is not None
    back = v.shrink(((1, 4), (0, 4)))
    assert back.mask is None and back == View((3, 4))


def test_view_equality_and_hash() -> None:
    a, b = View((2, 3)).permute((1, 0)), View((2, 3)).permute((1, 0))
    assert a == b and hash(a) == hash(b)
    assert a != View((3, 2))
