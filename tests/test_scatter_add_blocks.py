"""scatter_add by output blocks (compiler/scatter_c.py): duplicates accumulate, blocks the
index does not reach stay zero, blocks split between threads (outputs above the parallel
threshold) give PyTorch's values, forward and backward, eager and jitted; out-of-range
indices raise."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, tt, zt

import zili

# (output shape, scatter axis, index shape): a one-hot gradient above the parallel threshold
# (300 x 160 = 48000 elements), an embedding gradient (axis 0, index rows repeated across
# the columns), and an index shorter than the output on the axes around the scatter axis.
CASES = [((300, 160), 1, (300, 3)), ((12, 24), 0, (40, 24)), ((5, 7, 4), 1, (3, 9, 2))]


def _inputs(rng: np.random.Generator, shape: tuple, axis: int, index_shape: tuple):
    # few distinct targets, so most positions are hit more than once
    index = rng.integers(0, min(shape[axis], 4), size=index_shape)
    if axis == 0:
        index = np.repeat(index[:, :1], index_shape[1], axis=1)
    base = rng.standard_normal(shape).astype(np.float32)
    src = rng.standard_normal(index_shape).astype(np.float32)
    return base, index, src


@pytest.mark.parametrize("case", CASES, ids=str)
def test_scatter_add_blocks_match_torch(device: str, case: tuple) -> None:
    shape, axis, index_shape = case
    base, index, src = _inputs(np.random.default_rng(len(shape) + axis), *case)
    zb, zs = zt(base, device, True), zt(src, device, True)
    zi = zt(index, device)
    tb, ts = tt(base.astype(np.float64), True), tt(src.astype(np.float64), True)
    weight = np.random.default_rng(1).standard_normal(shape)
    got = zb.scatter_add(axis, zi, zs)
    want = tb.scatter_add(axis, tt(index), ts)
    assert_close(got, want, "float32", "scatter_add forward")
    (got * zt(weight.astype(np.float32), device)).sum().backward()
    (want * tt(weight)).sum().backward()
    assert_close(zb.grad, tb.grad, "float32", "scatter_add grad of self")
    assert_close(zs.grad, ts.grad, "float32", "scatter_add grad of source")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_scatter_add_jitted_equals_eager(cpu: str, case: tuple) -> None:
    shape, axis, _ = case
    base, index, src = _inputs(np.random.default_rng(7 + axis), *case)
    zb, zi, zs = zt(base, cpu), zt(index, cpu), zt(src, cpu)
    fn = zili.jit(lambda b, i, s: b.scatter_add(axis, i, s) * 2)
    eager = (zb.scatter_add(axis, zi, zs) * 2).numpy()
    for _ in range(2):  # trace, then replay the plan
        np.testing.assert_array_equal(fn(zb, zi, zs).numpy(), eager)


@pytest.mark.parametrize("use_jit", [False, True])
def test_scatter_add_out_of_range_raises(cpu: str, use_jit: bool) -> None:
    base = zili.zeros(300, 160, device=cpu)
    good = zt(np.zeros((300, 1), np.int64), cpu)
    bad = zt(np.full((300, 1), 160, np.int64), cpu)
    ones = zili.ones(300, 1, device=cpu)
    fn = zili.jit(lambda b, i, s: b.scatter_add(1, i, s)) if use_jit else \
        (lambda b, i, s: b.scatter_add(1, i, s))
    fn(base, good, ones).numpy()
    with pytest.raises(IndexError, match="out of range|out of bounds"):
        fn(base, bad, ones).numpy()
