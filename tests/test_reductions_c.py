"""Reductions at memory speed (zili/compiler/reduce_c.py): values against float64 NumPy on
every device, the accuracy of a float32 sum of 10^7 values, and on the cpu device the
properties the loops promise: the same bits whatever the number of threads, the same bits
eager and jitted, fused producers kept in the reduction's kernel."""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
from zili.compiler.reduce_c import path_of
from zili.compiler.render_c import CRenderer
from zili.compiler.scratch_c import SCRATCH_ROW

SIZES = [1, 2, 3, 5, 7, 13, 31, 33, 67, 130, 1031]  # odd, prime, around the 32 lanes


@st.composite
def cases(draw: st.DrawFn) -> tuple:
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.sampled_from(SIZES[:8] if ndim == 3 else SIZES)) for _ in range(ndim))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    layout = draw(st.sampled_from(["contiguous", "transposed", "stepped"]))
    op = draw(st.sampled_from(["sum", "amax", "amin", "mean", "var", "logsumexp"]))
    return shape, tuple(sorted(axes)), layout, op, draw(st.booleans()), draw(st.integers(0, 99))


def _input(shape: tuple, layout: str, seed: int, device: str) -> tuple[np.ndarray, object]:
    rng = np.random.default_rng(seed)
    if layout == "stepped":  # every other element of a bigger buffer: strided reads
        base = rng.standard_normal(tuple(2 * s for s in shape)).astype(np.float32)
        x = zili.tensor(base, device=device)[tuple(slice(None, None, 2) for _ in shape)]
        return base[tuple(slice(None, None, 2) for _ in shape)], x
    if layout == "transposed":  # the innermost axis is the slowest in memory
        base = rng.standard_normal(shape[::-1]).astype(np.float32)
        order = tuple(range(len(shape)))[::-1]
        return base.transpose(order), zili.tensor(base, device=device).permute(*order)
    base = rng.standard_normal(shape).astype(np.float32)
    return base, zili.tensor(base, device=device)


def _reference(a: np.ndarray, op: str, axes: tuple, keepdim: bool) -> np.ndarray:
    a = a.astype(np.float64)
    if op == "logsumexp":
        m = a.max(axis=axes, keepdims=True)
        out = np.log(np.exp(a - m).sum(axis=axes, keepdims=True)) + m
        return out if keepdim else out.squeeze(axes)
    fn = {"sum": np.sum, "amax": np.max, "amin": np.min, "mean": np.mean}.get(op)
    if fn is None:
        return a.var(axis=axes, keepdims=keepdim, ddof=1)
    return fn(a, axis=axes, keepdims=keepdim)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_reductions_match_float64_numpy(device: str, case: tuple) -> None:
    shape, axes, layout, op, keepdim, seed = case
    a, x = _input(shape, layout, seed, device)
    got = getattr(x, op)(axes, keepdim=keepdim).numpy().astype(np.float64)
    ref = _reference(a, op, axes, keepdim)
    assert got.shape == ref.shape
    count = int(np.prod([shape[d] for d in axes]))
    if op in ("amax", "amin"):  # exact: the maximum of float32 values is one of them
        np.testing.assert_array_equal(got, ref)
    elif op == "var":
        if count > 1:
            np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-6)
    else:  # float32 rounding: a few ulps of the sum of magnitudes
        scale = np.abs(a.astype(np.float64)).sum(axis=axes, keepdims=keepdim)
        if op == "mean":
            scale = scale / count
        np.testing.assert_array_less(np.abs(got - ref), 1e-6 * scale + 1e-6)


def test_gradient_of_a_bias_is_a_column_sum(device: str) -> None:
    # backward of a broadcast add reduces the batch axes: the column path
    rng = np.random.default_rng(5)
    x, b, g = (rng.standard_normal(s).astype(np.float32) for s in ((9, 131, 67), (67,),
                                                                 (9, 131, 67)))
    zb = zili.tensor(b, device=device, requires_grad=True)
    zx = zili.tensor(x, device=device, requires_grad=True)
    ((zx + zb) * zili.tensor(g, device=device)).sum().backward()
    ref = g.astype(np.float64).sum((0, 1))
    np.testing.assert_allclose(zb.grad.numpy(), ref, rtol=0,
                               atol=1e-6 * np.abs(g).sum((0, 1)).max())
    np.testing.assert_array_equal(zx.grad.numpy(), g)


@pytest.mark.parametrize("shape,dim", [((10**7,), 0), ((2, 5 * 10**6), 1),
                                       ((5 * 10**6, 2), 0)])
def test_float32_sum_of_ten_million_values_within_1e_6(device: str, shape: tuple,
                                                         dim: int) -> None:
    a = np.random.default_rng(11).random(shape, dtype=np.float32)
    got = zili.tensor(a, device=device).sum(dim).numpy().astype(np.float64)
    ref = a.astype(np.float64).sum(dim)
    assert np.all(np.abs(got - ref) <= 1e-6 * ref), (got, ref)


# --- cpu device: the loops' promises ----------------------------------------------------

def _openmp() -> ctypes.CDLL:
    name = ctypes.util.find_library("gomp")
    if name is None:
        pytest.skip("libgomp not found: cannot change the kernels' thread count")
    return ctypes.CDLL(name)


# row path (several rows; one long row: parallel blocks), column path (wide: column blocks
# of a width that depends on the threads; narrow: row blocks with partial buffers)
THREAD_CASES = [((6, 70001), -1), ((300001,), 0), ((517, 3001), 0), ((20011, 5), 0),
                ((3, 4099, 7), 1)]


def test_results_do_not_depend_on_the_number_of_threads(cpu: str) -> None:
    openmp = _openmp()
    before = openmp.omp_get_max_threads()
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s).astype(np.float32) for s, _ in THREAD_CASES]
    seen: dict[int, list[bytes]] = {}
    try:
        for threads in (1, 2, 3, 8):
            openmp.omp_set_num_threads(threads)
            seen[threads] = [op(zili.tensor(a, device=cpu), d).numpy().tobytes()
                             for a, (_, d) in zip(arrays, THREAD_CASES)
                             for op in (lambda t, d: t.sum(d), lambda t, d: t.amax(d))]
    finally:
        openmp.omp_set_num_threads(before)
    for threads, results in seen.items():
        assert results == seen[1], f"{threads} threads changed a result"
    for a, (_, d) in zip(arrays, THREAD_CASES):  # and the values are right
        got = zili.tensor(a, device=cpu).sum(d).numpy()
        ref = a.astype(np.float64).sum(d)
        assert np.all(np.abs(got - ref) <= 1e-6 * np.abs(a).sum(d) + 1e-6)


def _jit_and_eager(fn, *arrays) -> tuple[np.ndarray, np.ndarray, object]:
    tensors = [zili.tensor(a, device="cpu") for a in arrays]
    jitted = zili.jit(fn)
    for _ in range(3):  # eager, trace, replay
        out = jitted(*tensors)
    return fn(*tensors).numpy(), out.numpy(), jitted.plan


FUSED = {  # name: (function, its reduction's loop shape, kernels of the plan or None)
    "a*b summed over rows": (lambda a, b: (a * b).sum(-1), "rows", 1),
    "a*b summed over columns": (lambda a, b: (a * b).sum(0), "columns", 1),
    "softmax": (lambda a, b: a.softmax(-1), "rows", 1),
    "layer norm": (lambda a, b: zili.nn.functional.layer_norm(a, (a.shape[-1],)), "rows", None),
    "var over columns": (lambda a, b: (a + b).var(0), "columns", None),
    "max of a transposed product": (lambda a, b: (a * b).T.amax(0), "columns", 1),
}


@pytest.mark.parametrize("name", list(FUSED))
def test_eager_and_jit_give_the_same_bits(cpu: str, name: str) -> None:
    # a fused producer (a*b) stays inside the reduction's kernel: it is not materialized
    fn, path, kernels = FUSED[name]
    rng = np.random.default_rng(8)
    a, b = (rng.standard_normal((259, 1037)).astype(np.float32) for _ in range(2))
    eager, jitted, plan = _jit_and_eager(fn, a, b)
    np.testing.assert_array_equal(jitted, eager)
    paths = [path_of(s.kernel) for s in plan.steps if s.kernel is not None]
    assert path in paths, plan.describe()
    assert kernels is None or plan.kernel_count == kernels, plan.describe()


@pytest.mark.parametrize("cols", [7, 3600, 16389])
def test_intermediate_rows_of_a_fused_kernel_stay_in_scratch(cpu: str, cols: int) -> None:
    # softmax fuses max, exp, sum and divide into one row kernel; its exponentials are read
    # only by the same row's later stages, so they live in a stack row (up to SCRATCH_ROW
    # elements) instead of a buffer. Same bits as eager, float64 NumPy's values.
    rows = 5
    x = np.random.default_rng(cols).standard_normal((rows, cols)).astype(np.float32) * 4
    tx = zili.tensor(x, device=cpu)
    fn = zili.jit(lambda t: (t.softmax(-1), t.log_softmax(-1)))
    for _ in range(3):  # eager first call, trace, replay
        soft, logsoft = fn(tx)
    np.testing.assert_array_equal(soft.numpy(), tx.softmax(-1).numpy())
    np.testing.assert_array_equal(logsoft.numpy(), tx.log_softmax(-1).numpy())
    shifted = x.astype(np.float64) - x.max(-1, keepdims=True)
    want = np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)
    np.testing.assert_allclose(soft.numpy(), want, rtol=2e-6, atol=1e-9)
    kernels = [s.kernel for s in fn.plan.steps if getattr(s, "kernel", None) is not None]
    sources = [CRenderer(dynamic=False).render(k)[0] for k in kernels]
    in_scratch = any(f" sc{k}[{cols}];" in src for src, kernel in zip(sources, kernels)
                     for k in kernel.scratch)
    assert in_scratch == (cols <= SCRATCH_ROW)
