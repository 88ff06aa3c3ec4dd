"""zili's generated SGEMM (zili.compiler.gemm) against PyTorch: random shapes including odd
and prime sizes, transposed, strided and broadcast operands, batches, every epilogue; and
the cpu device's matmul through it, eager and under zili.jit, forward and backward."""

from __future__ import annotations

import ctypes
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zili
from zili.compiler.gemm import Gemm, float_bits
from zili.compiler.gemm_source import GEMM_SOURCE
from zili.ops.view import View


@pytest.fixture(scope="module")
def gemm() -> Gemm:
    try:
        device = zili.get_device("cpu")
    except Exception as error:  # no C compiler: the cpu device is absent, nothing to test
        pytest.skip(f"the cpu device is not available: {error}")
    return Gemm(device)


def _operand(rng: np.random.Generator, rows: int, cols: int, layout: str,
             batch: tuple[int, ...] = ()) -> tuple[np.ndarray, View, torch.Tensor]:
    """A (batch..., rows, cols) operand stored as ``layout``: 'n' row-major, 't' transposed
    (column-major storage), 's' every other column of a wider buffer with an offset."""
    if layout == "t":
        data = rng.standard_normal(batch + (cols, rows)).astype(np.float32)
        strides = tuple(int(s) // 4 for s in data.strides)
        view = View(batch + (rows, cols), strides[:-2] + (strides[-1], strides[-2]))
        return data.reshape(-1), view, torch.from_numpy(data).transpose(-1, -2)
    if layout == "s":
        data = rng.standard_normal(batch + (rows, 2 * cols + 3)).astype(np.float32)
        strides = tuple(int(s) // 4 for s in data.strides)
        view = View(batch + (rows, cols), strides[:-1] + (2,), offset=1)
        return data.reshape(-1), view, torch.from_numpy(data)[..., 1:2 * cols + 1:2]
    data = rng.standard_normal(batch + (rows, cols)).astype(np.float32)
    return data.reshape(-1), View(batch + (rows, cols)), torch.from_numpy(data)


def _check(got: np.ndarray, want: torch.Tensor, k: int) -> None:
    want64 = want.double().numpy()
    tol = 2e-6 * (k + 1) ** 0.5 * max(1.0, float(np.abs(want64).max()))
    np.testing.assert_allclose(got.reshape(want64.shape), want64, rtol=1e-4, atol=tol)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 70), n=st.integers(1, 70), k=st.integers(0, 300),
       la=st.sampled_from("nts"), lb=st.sampled_from("nts"), seed=st.integers(0, 2**31))
def test_gemm_matches_torch(gemm: Gemm, m: int, n: int, k: int, la: str, lb: str,
                            seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, av, ta = _operand(rng, m, k, la)
    b, bv, tb = _operand(rng, k, n, lb)
    out = np.full(m * n, np.nan, np.float32)
    gemm(a, av, b, bv, out, (m, n))
    _check(out, ta.double() @ tb.double(), k)


@pytest.mark.parametrize("m,n,k", [(127, 131, 257), (97, 1031, 17), (1031, 13, 521),
                                   (6, 16, 256), (193, 4099, 3)])
def test_gemm_prime_and_blocking_edges(gemm: Gemm, m: int, n: int, k: int) -> None:
    """Sizes that straddle the microkernel (6 x 16), depth (256) and column (4096) blocks."""
    rng = np.random.default_rng(m * n + k)
    a, av, ta = _operand(rng, m, k, "n")
    b, bv, tb = _operand(rng, k, n, "t")
    out = np.empty(m * n, np.float32)
    gemm(a, av, b, bv, out, (m, n))
    _check(out, ta.double() @ tb.double(), k)


@pytest.mark.parametrize("bias_kind", [None, "row", "full"])
@pytest.mark.parametrize("gelu", [False, True])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("size", [((3,), 37, 41, 29), ((1,), 97, 61, 300), ((1,), 61, 97, 300)])
def test_gemm_epilogues(gemm: Gemm, bias_kind: str | None, gelu: bool, residual: bool,
                        size: tuple) -> None:
    """out = gelu?(alpha * a @ b + bias) + residual, bias broadcast over rows or full; a
    batch of small products (one per thread) and single products cut into row or column
    pieces over several depth blocks."""
    rng = np.random.default_rng(7)
    alpha = 0.37
    batch, m, n, k = size
    a, av, ta = _operand(rng, m, k, "s", batch)
    b, bv, tb = _operand(rng, k, n, "t", batch)
    want = alpha * (ta.double() @ tb.double())
    bias = res = None
    if bias_kind == "row":
        vec = rng.standard_normal(n).astype(np.float32)
        bias = (vec, View(batch + (m, n), (0, 0, 1)))
        want = want + torch.from_numpy(vec).double()
    elif bias_kind == "full":
        full = rng.standard_normal(batch + (m, n)).astype(np.float32)
        bias = (full.reshape(-1), View(batch + (m, n)))
        want = want + torch.from_numpy(full).double()
    if gelu:
        want = torch.nn.functional.gelu(want, approximate="tanh")
    if residual:
        full = rng.standard_normal((m, n)).astype(np.float32)
        res = (full.reshape(-1), View(batch + (m, n), (0, n, 1)))
        want = want + torch.from_numpy(full).double()
    out = np.empty(int(np.prod(batch)) * m * n, np.float32)
    gemm(a, av, b, bv, out, batch + (m, n), alpha=alpha, bias=bias, gelu=gelu, residual=res)
    _check(out, want, k)


def test_gemm_batched_broadcast_and_heads(gemm: Gemm) -> None:
    """Attention's layout: (batch, heads) axes that no single stride walks, and an operand
    broadcast over the batch (stride 0)."""
    rng = np.random.default_rng(3)
    nb, nh, t, e = 2, 3, 19, 8
    qkv = rng.standard_normal((nb, t, 3 * nh * e)).astype(np.float32)
    tq = torch.from_numpy(qkv)[..., :nh * e].reshape(nb, t, nh, e).transpose(1, 2)
    tk = torch.from_numpy(qkv)[..., nh * e:2 * nh * e].reshape(nb, t, nh, e).transpose(1, 2)
    s = 3 * nh * e
    qv = View((nb, nh, t, e), (t * s, e, s, 1))
    kv = View((nb, nh, e, t), (t * s, e, 1, s), offset=nh * e)
    out = np.empty(nb * nh * t * t, np.float32)
    gemm(qkv.reshape(-1), qv, qkv.reshape(-1), kv, out, (nb, nh, t, t))
    _check(out, tq.double() @ tk.double().transpose(-1, -2), e)
    w = rng.standard_normal((e, 5)).astype(np.float32)
    out2 = np.empty(nb * nh * t * 5, np.float32)
    gemm(qkv.reshape(-1), qv, w.reshape(-1), View((e, 5)), out2, (nb, nh, t, 5))
    _check(out2, tq.double() @ torch.from_numpy(w).double(), e)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 16), n=st.integers(1, 150), k=st.integers(0, 200),
       la=st.sampled_from("nts"), lb=st.sampled_from("nts"), epilogue=st.booleans(),
       batch=st.sampled_from([(), (3,)]), seed=st.integers(0, 2**31))
def test_gemm_skinny_matches_torch(gemm: Gemm, m: int, n: int, k: int, la: str, lb: str,
                                   epilogue: bool, batch: tuple, seed: int) -> None:
    """At most 16 rows (decode), alone or batched (decode attention, one row per head):
    weight transposed ('t': dot products), row-major ('n': axpy form) or strided ('s': the
    packed path), odd sizes around the 8- and 4-column, 2-row and vector-width steps, with
    and without a bias and residual epilogue."""
    rng = np.random.default_rng(seed)
    a, av, ta = _operand(rng, m, k, la, batch)
    b, bv, tb = _operand(rng, k, n, lb, batch)
    want = ta.double() @ tb.double()
    bias = res = None
    if epilogue:
        vec = rng.standard_normal(n).astype(np.float32)
        full = rng.standard_normal(batch + (m, n)).astype(np.float32)
        bias = (vec, View(batch + (m, n), (0,) * len(batch) + (0, 1)))
        res = (full.reshape(-1), View(batch + (m, n)))
        want = 0.5 * want + torch.from_numpy(vec).double() + torch.from_numpy(full).double()
    out = np.full(int(np.prod(batch)) * m * n, np.nan, np.float32)
    gemm(a, av, b, bv, out, batch + (m, n), alpha=0.5 if epilogue else 1.0, bias=bias,
         residual=res)
    _check(out, want, k)


@settings(max_examples=12, deadline=None)
@given(batch=st.integers(2, 5), m=st.integers(1, 140), n=st.integers(1, 70),
       k=st.integers(1, 140), la=st.sampled_from("nts"), lb=st.sampled_from("nts"),
       seed=st.integers(0, 2**31))
def test_gemm_batched_matches_torch(gemm: Gemm, batch: int, m: int, n: int, k: int, la: str,
                                    lb: str, seed: int) -> None:
    """A batch of products, one per thread: A read in place (small A, partial tiles read
    its last row again) or packed (M x K over 16384), B transposed in 8 x 8 blocks."""
    rng = np.random.default_rng(seed)
    a, av, ta = _operand(rng, m, k, la, (batch,))
    b, bv, tb = _operand(rng, k, n, lb, (batch,))
    out = np.full(batch * m * n, np.nan, np.float32)
    gemm(a, av, b, bv, out, (batch, m, n))
    _check(out, ta.double() @ tb.double(), k)


def test_gemm_rejects_other_dtypes(gemm: Gemm) -> None:
    a = np.zeros(4, np.float64)
    with pytest.raises(TypeError, match="float32"):
        gemm(a, View((2, 2)), a, View((2, 2)), np.zeros(4, np.float64), (2, 2))


@pytest.mark.parametrize("m,n,k,la,lb", [(301, 67, 530, "t", "n"), (7, 300, 70, "n", "t"),
                                         (9, 200, 33, "t", "n"), (100, 50, 150, "s", "t")])
def test_gemm_does_not_depend_on_thread_count(gemm: Gemm, m: int, n: int, k: int, la: str,
                                              lb: str) -> None:
    """The same bits with 1 and with all threads (so eager and jitted runs agree), for the
    packed path, both skinny forms, and a small A that one thread reads in place."""
    rng = np.random.default_rng(11)
    a, av, _ = _operand(rng, m, k, la)
    b, bv, _ = _operand(rng, k, n, lb)
    outs = []
    libgomp = ctypes.CDLL("libgomp.so.1")
    before = libgomp.omp_get_max_threads()
    try:
        for threads in (1, max(2, before)):
            libgomp.omp_set_num_threads(threads)
            out = np.empty(m * n, np.float32)
            gemm(a, av, b, bv, out, (m, n))
            outs.append(out)
    finally:
        libgomp.omp_set_num_threads(before)
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("shape_a,shape_b", [((2, 33, 17), (17, 29)), ((5, 7), (3, 7, 11)),
                                             ((3, 40), (40, 37))])
def test_cpu_matmul_eager_and_jit_backward(gemm: Gemm, shape_a: tuple, shape_b: tuple) -> None:
    """Through the tensor API on the cpu device: forward and both backward products (their
    transposed operands go through packing), eager and jitted give the same bits."""
    rng = np.random.default_rng(5)
    xa = rng.standard_normal(shape_a).astype(np.float32)
    xb = rng.standard_normal(shape_b).astype(np.float32)
    ta = torch.from_numpy(xa).double().requires_grad_()
    tb = torch.from_numpy(xb).double().requires_grad_()
    (ta @ tb).sin().sum().backward()

    def step(a: zili.Tensor, b: zili.Tensor) -> tuple:
        out = (a @ b).sin().sum()
        out.backward()
        return out, a.grad, b.grad

    results = []
    jitted = zili.jit(step)
    device = zili.get_device("cpu")
    saved, device.matmul_library = device.matmul_library, "zili"
    try:
        for fn in (step, jitted, jitted, jitted):
            a = zili.tensor(xa, device="cpu", requires_grad=True)
            b = zili.tensor(xb, device="cpu", requires_grad=True)
            results.append([t.detach().numpy() for t in fn(a, b)])
    finally:
        device.matmul_library = saved
    _check(results[0][1], ta.grad, shape_a[-1])
    _check(results[0][2], tb.grad, shape_a[-1])
    for got in results[1:]:
        for x, y in zip(results[0], got):
            np.testing.assert_array_equal(x, y)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or shutil.which("cc") is None,
                    reason="needs cc on x86-64 to build the portable microkernel")
def test_portable_microkernel(tmp_path: Path) -> None:
    """The fallback microkernel (GCC vector extensions, chosen when the target has neither
    AVX2/FMA, AVX-512 nor NEON) built for baseline x86-64, against NumPy in float64."""
    source = tmp_path / "gemm.c"
    source.write_text(GEMM_SOURCE)
    library = tmp_path / "gemm.so"
    subprocess.run(["cc", "-O2", "-march=x86-64", "-fopenmp", "-fPIC", "-shared",
                    "-std=gnu11", "-o", str(library), str(source), "-lm"], check=True)
    lib = ctypes.CDLL(str(library))
    lib.zili_sgemm_target.restype = ctypes.c_char_p
    assert lib.zili_sgemm_target() == b"portable"
    fn = lib.zili_sgemm
    fn.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_longlong] * 28
    rng = np.random.default_rng(13)
    m, n, k = 37, 53, 300
    a = rng.standard_normal((k, m)).astype(np.float32)  # used transposed
    b = rng.standard_normal((k, n)).astype(np.float32)
    out = np.empty((m, n), np.float32)
    ints = [0] * 5 + [1, 1, m, n, k, 0, 0, 1, m, 0, 0, n, 1, float_bits(1.0), 0] + [0] * 8
    assert fn(out.ctypes.data, a.ctypes.data, b.ctypes.data, out.ctypes.data,
              out.ctypes.data, *ints) == 0
    np.testing.assert_allclose(out, a.T.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    # The skinny path (5 rows), weight transposed (dot products) and row-major (axpy).
    x = rng.standard_normal((5, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    out = np.empty((5, n), np.float32)
    for bt, weight, brs, bcs in ((True, w, 1, k), (False, np.ascontiguousarray(w.T), n, 1)):
        ints = [0] * 5 + [1, 1, 5, n, k, 0, 0, k, 1, 0, 0, brs, bcs, float_bits(1.0), 0] + \
            [0] * 8
        assert fn(out.ctypes.data, x.ctypes.data, weight.ctypes.data, out.ctypes.data,
                  out.ctypes.data, *ints) == 0
        np.testing.assert_allclose(out, x.astype(np.float64) @ w.T, rtol=1e-4, atol=1e-4,
                                   err_msg=f"weight transposed: {bt}")
