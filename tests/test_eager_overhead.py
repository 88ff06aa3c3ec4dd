"""Eager dispatch stays short and right: how many Python calls one primitive costs (a count,
not a time, so load cannot make it flaky), and that the short paths (the cpu device's direct
C call, cached result dtypes and constants) give PyTorch's values and gradients.

Call counts before the eager work (cpu device, 16 x 16 float32): a + b 58, a.sum() 78,
a.exp() 122 Python and C calls in all, of which 29, 59, 75 in the tensor layer (a * 2.0: 56);
today 42, 51, 62 (26, 37, 34; 33). The bounds sit halfway, so a change that puts back most
of the removed overhead fails here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import zili
from zili.compiler.runtime import Stats

TENSOR_LAYER = ("zili/tensor/", "zili/dtype.py", "zili/ops/")


def calls(fn: Callable[[], Any], only: tuple[str, ...] | None = None) -> int:
    """Python function calls plus C calls made while ``fn`` runs (those from Python
    functions in files whose path contains one of ``only``, when given)."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            path = frame.f_code.co_filename.replace("\\", "/")
            if only is None or any(part in path for part in only):
                count += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


def operands(device: str) -> tuple[zili.Tensor, zili.Tensor, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x, y = (rng.standard_normal((16, 16)).astype(np.float32) for _ in range(2))
    return zili.tensor(x, device=device), zili.tensor(y, device=device), x, y


def test_tensor_layer_calls_per_primitive_are_bounded(device: str) -> None:
    a, b, _, _ = operands(device)
    # the numpy device's execute calls one or two helpers more from zili/ops
    for name, fn, bound in (("a + b", lambda: a + b, 29), ("a.sum()", lambda: a.sum(), 48),
                            ("a.exp()", lambda: a.exp(), 55), ("a * 2.0", lambda: a * 2.0, 45)):
        fn()  # compile, fill the caches
        used = calls(fn, TENSOR_LAYER)
        assert used <= bound, f"{name}: {used} calls in the tensor layer (bound {bound})"


def test_cpu_primitive_calls_are_bounded() -> None:
    a, b, _, _ = operands("cpu")
    for name, fn, bound in (("a + b", lambda: a + b, 50), ("a.sum()", lambda: a.sum(), 64),
                            ("a.exp()", lambda: a.exp(), 92)):
        fn()
        used = calls(fn)
        assert used <= bound, f"{name}: {used} Python and C calls in all (bound {bound})"


def test_cpu_direct_launch_counts_and_matches_numpy() -> None:
    a, b, x, y = operands("cpu")
    (a + b, a.exp(), a.sum())  # compile
    before = Stats.launched
    total, exp, summed = a + b, a.exp(), a.sum()
    assert Stats.launched - before == 4  # add, mul + exp2, sum: each launch counted
    np.testing.assert_allclose(total.numpy(), x.astype(np.float64) + y, rtol=1e-6)
    np.testing.assert_allclose(exp.numpy(), np.exp(x.astype(np.float64)), rtol=1e-6)
    np.testing.assert_allclose(summed.item(), x.astype(np.float64).sum(), rtol=1e-5)


def test_cpu_direct_launch_reports_index_errors() -> None:
    values = zili.tensor(np.arange(6, dtype=np.float32), device="cpu")
    index = zili.tensor(np.array([0, 2, 9]), device="cpu")
    values.gather(0, zili.tensor(np.array([0, 1]), device="cpu"))  # compile the kernel
    with pytest.raises(IndexError):
        values.gather(0, index)


@pytest.mark.parametrize("scalar", [2, 2.5])
@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_cached_result_dtypes_follow_pytorch(device: str, dtype: str, scalar: Any) -> None:
    """Tensor-scalar result dtypes are cached per (op, dtype, scalar type, 0-d or not):
    they must still be PyTorch's, for 0-d tensors too, on the second call as on the first."""
    for data in (np.array([[1, 0], [3, 4]]).astype(dtype), np.array(3).astype(dtype)):
        t, ref = zili.tensor(data, device=device), torch.tensor(data)
        for _ in range(2):
            for op in (lambda u, s: u * s, lambda u, s: s + u):
                got, want = op(t, scalar), op(ref, scalar)
                assert got.dtype.name == str(want.dtype).removeprefix("torch."), \
                    (dtype, scalar, data.shape)
                np.testing.assert_allclose(np.asarray(got.numpy(), np.float64),
                                           want.numpy().astype(np.float64))


def test_small_mlp_forward_backward_matches_pytorch(device: str) -> None:
    """bench/eager.py's MLP (linear, relu, linear, mean) and its gradients."""
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in
              ((8, 16), (32, 16), (32,), (1, 32), (1,))]
    arrays[0][0, :4] = 0.0  # relu at 0: gradient 0, as PyTorch
    ours = [zili.tensor(a, device=device, requires_grad=i > 0) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i > 0) for i, a in enumerate(arrays)]
    results = []
    for lib, (x, w1, b1, w2, b2) in ((zili, ours), (torch, theirs)):
        f = lib.nn.functional
        for _ in range(2):  # the second pass runs on warm caches
            for w in (w1, b1, w2, b2):
                w.grad = None
            loss = f.linear(f.relu(f.linear(x, w1, b1)), w2, b2).mean()
            loss.backward()
        results.append([loss.detach().numpy(), *(w.grad.numpy() for w in (w1, b1, w2, b2))])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
