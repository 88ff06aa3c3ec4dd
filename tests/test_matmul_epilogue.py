"""Schedule rule 3: inside a jitted plan, the ADDs right after a product (a Linear's bias, a
residual) run in the product's epilogue. Checked against PyTorch forward and backward, for
the same bits as eager, and for which products may and may not absorb an ADD."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zili
from zili.devices.device import available_devices


def _fuses(device: str) -> bool:
    return "float32" in getattr(zili.get_device(device), "matmul_epilogue", ())


def _linear_residual(x, w, b, r):  # noqa: ANN001, ANN202 (zili and torch tensors alike)
    y = (x @ w.transpose(0, 1) + b) + r  # (batch, T, out): the product is (batch*T, out)
    return (y * y).sum(), y


@pytest.mark.parametrize("library", ["zili", "blas"])
def test_bias_and_residual_fuse_and_match_pytorch(device: str, library: str) -> None:
    """(x @ W^T + b) + r at odd sizes on every device (the cpu device with both libraries)."""
    if library == "blas" and device != "cpu":
        pytest.skip("only the cpu device has a choice of product library")
    _check_fused_step(device, library, 2, 7, 13, 11, 0)


@settings(max_examples=4, deadline=None)
@given(batch=st.integers(1, 3), t=st.integers(1, 13), n_in=st.integers(1, 37),
       n_out=st.integers(1, 41), seed=st.integers(0, 2**31))
def test_fused_step_random_shapes(batch: int, t: int, n_in: int, n_out: int,
                                  seed: int) -> None:
    """The same on the cpu device (the one whose products take epilogues) at random shapes."""
    if "cpu" not in available_devices():
        pytest.skip("the cpu device is not available here")
    _check_fused_step("cpu", "zili", batch, t, n_in, n_out, seed)


def _check_fused_step(device: str, library: str, batch: int, t: int, n_in: int, n_out: int,
                      seed: int) -> None:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32)
              for s in ((batch, t, n_in), (n_out, n_in), (n_out,), (batch, t, n_out))]
    dev = zili.get_device(device)
    saved = getattr(dev, "matmul_library", None)
    if saved is not None:
        dev.matmul_library = library
    try:
        def step(*tensors):  # noqa: ANN002, ANN202
            loss, y = _linear_residual(*tensors)
            loss.backward()
            return y.detach(), *(p.grad for p in tensors)  # (y's graph would keep the product)

        jitted = zili.jit(step)
        results = []
        for fn in (step, jitted, jitted):
            tensors = [zili.tensor(a, device=device, requires_grad=True) for a in arrays]
            results.append([v.detach().numpy() for v in fn(*tensors)])
        describe = jitted.plan.describe()
    finally:
        if saved is not None:
            dev.matmul_library = saved
    ts = [torch.from_numpy(a).double().requires_grad_() for a in arrays]
    loss, y = _linear_residual(*ts)
    loss.backward()
    for got, want in zip(results[0], [y, *(p.grad for p in ts)]):
        want = want.detach().numpy()
        tol = 1e-4 * (n_in + n_out) ** 0.5 * max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=tol)
    for replay in results[1:]:
        for a, b in zip(results[0], replay):
            np.testing.assert_array_equal(a, b)
    if _fuses(device):
        assert any(line.startswith("matmul add") for line in describe), describe


def test_what_may_not_fuse(device: str) -> None:
    """A product read twice, or read through a transpose, keeps its own buffer; an addend
    read through a pad (masked view) still fuses. All against PyTorch."""
    rng = np.random.default_rng(5)
    a, b, c = (rng.standard_normal((9, 9)).astype(np.float32) for _ in range(3))
    p = rng.standard_normal((9, 7)).astype(np.float32)

    def fn(x, y, z, q, pad):  # noqa: ANN001, ANN202
        twice = x @ y
        return (twice + z, twice * 2.0, (x @ z).transpose(0, 1) + y,
                x @ y + pad(q))

    zs = [zili.tensor(v, device=device) for v in (a, b, c, p)]
    jitted = zili.jit(lambda *t: fn(*t, lambda q: q.pad_axes(((0, 0), (1, 1)))))
    jitted(*zs)
    got = jitted(*zs)
    if _fuses(device):  # only the last product absorbs its ADD
        assert sum(line.startswith("matmul add") for line in jitted.plan.describe()) == 1
    ts = [torch.from_numpy(v).double() for v in (a, b, c, p)]
    want = fn(*ts, lambda q: torch.nn.functional.pad(q, (1, 1)))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5)
