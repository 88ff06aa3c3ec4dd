"""``inplace=True`` on the activations of nn.functional, against PyTorch: the input holds the
result afterwards (and views of it see it), gradients through a non-leaf input equal
PyTorch's, a leaf that requires grad is refused as PyTorch refuses it, and the parameter sits
where PyTorch has it."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import zili
import zili.nn.functional as F

CASES = {"relu": (), "relu6": (), "elu": (0.7,), "celu": (1.3,), "selu": (), "silu": (),
         "mish": (), "hardsigmoid": (), "hardswish": (), "hardtanh": (-0.5, 0.8),
         "leaky_relu": (0.2,), "threshold": (0.1, -2.0), "rrelu": (0.1, 0.3, False)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_inplace_is_pytorchs_last_parameter(name: str) -> None:
    ours = list(inspect.signature(getattr(F, name)).parameters)
    assert ours == list(inspect.signature(getattr(TF, name)).parameters)
    assert ours[-1] == "inplace"


@pytest.mark.parametrize("name", sorted(CASES))
def test_inplace_writes_the_input_and_keeps_gradients(device: str, name: str) -> None:
    args = CASES[name]
    x = np.random.default_rng(len(name)).standard_normal((3, 7)) * 4
    zleaf = zili.tensor(x.astype(np.float32), device=device, requires_grad=True)
    tleaf = torch.tensor(x, requires_grad=True)
    zx, tx = zleaf * 1.0, tleaf * 1.0  # non-leaves: in-place is allowed on them
    zview, tview = zx[1], tx[1]
    zout = getattr(F, name)(zx, *args, inplace=True)
    tout = getattr(TF, name)(tx, *args, inplace=True)
    assert zout is zx
    np.testing.assert_allclose(zx.detach().numpy(), tx.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(zview.detach().numpy(), tview.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    weights = np.linspace(-1, 1, x.size).reshape(x.shape)
    (zout * zili.tensor(weights.astype(np.float32), device=device)).sum().backward()
    (tout * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(zleaf.grad.numpy(), tleaf.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_inplace_on_a_leaf_that_requires_grad_is_refused(device: str) -> None:
    zleaf = zili.tensor(np.ones(4, np.float32), device=device, requires_grad=True)
    with pytest.raises(RuntimeError):
        TF.relu(torch.ones(4, requires_grad=True), inplace=True)
    with pytest.raises(RuntimeError):
        F.relu(zleaf, inplace=True)
