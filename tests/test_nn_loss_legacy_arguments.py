"""The losses take PyTorch's parameters in PyTorch's order, the deprecated ``size_average``
and ``reduce`` included: same names, positions and defaults as torch.nn.functional's, and
the same reduction (with a warning) for every combination of the pair."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
import zili.nn.functional as F

LEGACY = ["mse_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy",
          "binary_cross_entropy_with_logits", "kl_div", "nll_loss", "cross_entropy"]


@pytest.mark.parametrize("name", [*LEGACY, "huber_loss"])
def test_parameters_match_pytorch_names_order_and_defaults(name: str) -> None:
    ours = inspect.signature(getattr(F, name)).parameters
    theirs = inspect.signature(getattr(TF, name)).parameters
    assert list(ours) == list(theirs)
    for n in theirs:
        assert ours[n].default == theirs[n].default, n


def _inputs(name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((5, 4))
    if name in ("nll_loss", "cross_entropy"):
        target = rng.integers(0, 4, 5)
        if name == "nll_loss":
            x = x - np.log(np.exp(x).sum(1, keepdims=True))
        return x, target
    if name == "binary_cross_entropy":
        return 1 / (1 + np.exp(-x)), rng.random((5, 4))
    if name == "binary_cross_entropy_with_logits":
        return x, rng.random((5, 4))
    if name == "kl_div":
        return x - np.log(np.exp(x).sum(1, keepdims=True)), rng.dirichlet(np.ones(4), 5)
    return x, rng.standard_normal((5, 4))


@pytest.mark.parametrize("name", LEGACY)
def test_size_average_and_reduce_choose_pytorchs_reduction(device: str, name: str) -> None:
    rng = np.random.default_rng(len(name))
    x, target = _inputs(name, rng)
    zx = zili.tensor(x.astype(np.float32), device=device, requires_grad=True)
    ztarget = zili.tensor(target if target.dtype.kind == "i" else target.astype(np.float32),
                          device=device)
    for size_average, reduce in itertools.product([None, True, False], repeat=2):
        if size_average is None and reduce is None:
            continue
        tx = torch.tensor(x, requires_grad=True)
        with pytest.warns(UserWarning):
            ours = getattr(F, name)(zx, ztarget, size_average=size_average, reduce=reduce)
        with pytest.warns(UserWarning):
            theirs = getattr(TF, name)(tx, torch.tensor(target), size_average=size_average,
                                       reduce=reduce)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        zx.grad = None
        ours.sum().backward()
        theirs.sum().backward()
        np.testing.assert_allclose(zx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=3), seed=st.integers(0, 2**31),
       reduction=st.sampled_from(["mean", "sum", "none"]))
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression_losses_match_pytorch(device: str, name: str, shape: list[int],
                                                  seed: int, reduction: str) -> None:
    # torch 2.13's per-element ``weight``: mse and l1 divide a weighted 'mean' by the sum of
    # the weights, huber takes the plain mean of the weighted terms
    rng = np.random.default_rng(seed)
    x, y, w = (np.asarray(a, np.float64) for a in (rng.standard_normal(shape),
                                                  rng.standard_normal(shape),
                                                  rng.random(shape) + 0.1))
    zx = zili.tensor(x, device=device, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    zw, tw = zili.tensor(w, device=device, requires_grad=True), torch.tensor(w, requires_grad=True)
    got = getattr(F, name)(zx, zili.tensor(y, device=device), reduction=reduction, weight=zw)
    want = getattr(TF, name)(tx, torch.tensor(y), reduction=reduction, weight=tw)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    g = rng.standard_normal(want.shape)
    got.backward(zili.tensor(g, device=device))
    want.backward(torch.tensor(g))
    np.testing.assert_allclose(zx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(zw.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_weight_of_another_shape_is_refused_as_pytorch(device: str, name: str) -> None:
    x = zili.ones(2, 3, device=device)
    with pytest.raises(ValueError, match=f"{name}.*weight of shape \\(3,\\)"):
        getattr(F, name)(x, x, weight=zili.ones(3, device=device))
    with pytest.raises(ValueError, match="same size"):
        getattr(TF, name)(torch.ones(2, 3), torch.ones(2, 3), weight=torch.ones(3))
