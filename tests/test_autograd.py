"""Autograd semantics against PyTorch: accumulation, no_grad, detach, retain_grad, freed
graphs, in-place rules on leaves and requires_grad propagation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_close, compare, zt

import zili


def test_gradients_accumulate_over_backward_calls(device: str) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 2))
    z, t = zt(a, device, True), torch.tensor(a, requires_grad=True)
    for _ in range(3):
        (z * z).sum().backward()
        (t * t).sum().backward()
    assert_close(z.grad, t.grad)


def test_shared_subexpression_and_reused_input(device: str) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3,))

    def fn(lib: object, x: object, y: object) -> object:
        h = x * y
        return (h * h + h.exp() * x - y / (1 + h * h)).sum(0) * y

    compare(lambda x, y: fn(zili, x, y), lambda x, y: fn(torch, x, y), [a, b], device)


def test_no_grad_records_nothing(device: str) -> None:
    x = zt(np.ones(3), device, True)
    with zili.no_grad():
        y = x * 2
        assert not zili.is_grad_enabled()
    assert zili.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf

    @zili.no_grad()
    def double(t: zili.Tensor) -> zili.Tensor:
        return t * 2

    assert not double(x).requires_grad
    with zili.set_grad_enabled(False):
        assert not (x + 1).requires_grad
    assert (x + 1).requires_grad


def test_detach_cuts_the_graph(device: str) -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal(4)
    compare(lambda x: x * x.detach() + x.detach().exp(), lambda x: x * x.detach()
            + x.detach().exp(), [a], device)
    x = zt(a, device, True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    np.testing.assert_array_equal(d.numpy(), a)


def test_retain_grad_on_intermediate(device: str) -> None:
    a = np.array([1.0, -2.0, 3.0])
    z = zt(a, device, True)
    zh = z * 3
    zh.retain_grad()
    (zh * zh).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    th = t * 3
    th.retain_grad()
    (th * th).sum().backward()
    assert_close(zh.grad, th.grad)
    assert_close(z.grad, t.grad)
    assert (z * 2).grad is None


def test_second_backward_raises_unless_retained(device: str) -> None:
    x = zt(np.array([1.0, 2.0]), device, True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    x.grad = None
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_backward_needs_gradient_for_non_scalar_and_a_graph(device: str) -> None:
    x = zt(np.ones((2, 2)), device, True)
    with pytest.raises(RuntimeError, match=r"scalar.*\(2, 2\)"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        zt(np.ones(1), device).sum().backward()


def test_inplace_on_leaf_requiring_grad_raises(device: str) -> None:
    x = zt(np.ones(3), device, True)
    for op in (lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.zero_(),
               lambda t: t.fill_(3), lambda t: t.copy_(t.detach())):
        with pytest.raises(RuntimeError, match="leaf"):
            op(x)
    with zili.no_grad():
        x.add_(1).mul_(2)
    np.testing.assert_array_equal(x.detach().numpy(), [4.0, 4.0, 4.0])
    assert x.is_leaf and x.requires_grad


def test_inplace_on_non_leaf_keeps_gradients(device: str) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(4), rng.standard_normal(4)

    def fn(x: object, y: object) -> object:
        h = x * 1.5
        h.add_(y, alpha=2)
        h.mul_(y)
        h.sub_(x)
        h.div_(2.0)
        h.clamp_(-0.5, 0.5)
        return h * x

    compare(fn, fn, [a, b], device)


def test_requires_grad_propagation_and_dtypes(device: str) -> None:
    x = zt(np.ones(3), device, True)
    c = zt(np.ones(3), device)
    assert (x + c).requires_grad and not (c + c).requires_grad
    assert not (x > 0).requires_grad  # a comparison ends the graph, as in PyTorch
    assert not x.long().requires_grad
    assert x.float().requires_grad
    assert zili.zeros(2, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="floating"):
        zili.zeros(2, dtype=zili.int64, requires_grad=True)
    assert x.is_leaf and not (x * 1).is_leaf


def test_gradient_dtype_follows_leaf(device: str) -> None:
    x = zt(np.ones(3, np.float32), device, True)
    (x.double() * 2).sum().backward()
    assert x.grad.dtype is zili.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_custom_function_backward(device: str) -> None:
    class Cube(zili.Function):
        def forward(self, x: zili.Tensor) -> zili.Tensor:
            self.saved = x
            return x * x * x

        def backward(self, grad: zili.Tensor) -> tuple:
            return (grad * 3 * self.saved * self.saved,)

    a = np.array([1.0, -2.0, 0.5])
    x = zt(a, device, True)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * a * a)


def test_numpy_of_tensor_requiring_grad_raises(device: str) -> None:
    x = zt(np.ones(2), device, True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 1.0]


def test_gradient_of_a_transposed_weight_comes_out_contiguous(device: str) -> None:
    """x @ W.T (a linear layer): W's gradient is computed as grad^T @ x, in W's layout, and
    equals PyTorch's."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((7, 5)), rng.standard_normal((3, 5))
    zx = zili.tensor(x.astype(np.float32), device=device, requires_grad=True)
    zw = zili.tensor(w.astype(np.float32), device=device, requires_grad=True)
    (zx @ zw.T).square().sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    (tx @ tw.T).square().sum().backward()
    assert zw.grad._view.contiguous
    np.testing.assert_allclose(zw.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(zx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
