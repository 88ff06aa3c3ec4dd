"""softmax, log_softmax and softmin with PyTorch's full signature (dim=None's deprecated
implicit choice with its warning, ``_stacklevel``, ``dtype``), and normalize's ``out=``,
against PyTorch on every device."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
import zili.nn.functional as F
from zili.errors import ShapeError

FAMILY = ["softmax", "log_softmax", "softmin"]


@pytest.mark.parametrize("name", [*FAMILY, "normalize"])
def test_signature_is_pytorchs(name: str) -> None:
    ours = inspect.signature(getattr(F, name)).parameters
    theirs = inspect.signature(getattr(TF, name)).parameters
    assert list(ours) == list(theirs)
    for n in theirs:
        assert ours[n].default == theirs[n].default, n


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=4), seed=st.integers(0, 2**31),
       as_double=st.booleans())
@pytest.mark.parametrize("name", FAMILY)
def test_implicit_dim_and_dtype_follow_pytorch(device: str, name: str, shape: list[int],
                                               seed: int, as_double: bool) -> None:
    x = np.asarray(np.random.default_rng(seed).standard_normal(shape), np.float32)
    zx = zili.tensor(x, device=device, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    kwargs = {"dtype": (zili.float64 if as_double else None)}
    tkwargs = {"dtype": (torch.float64 if as_double else None)}
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name}"):
        got = getattr(F, name)(zx, **kwargs)
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name}"):
        want = getattr(TF, name)(tx, **tkwargs)
    assert got.dtype.name == str(want.dtype).removeprefix("torch.")
    tol = 1e-12 if as_double else 1e-6
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol,
                               atol=tol)
    g = np.random.default_rng(seed + 1).standard_normal(want.shape)
    got.backward(zili.tensor(g, device=device, dtype=got.dtype))
    want.backward(torch.tensor(g, dtype=want.dtype))
    np.testing.assert_allclose(zx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_normalize_writes_out_as_pytorch(device: str) -> None:
    x = np.random.default_rng(3).standard_normal((3, 5)).astype(np.float32)
    out = zili.zeros(3, 5, device=device)
    view = out[:, :]  # a view of out sees the result too
    got = F.normalize(zili.tensor(x, device=device), dim=0, out=out)
    want = TF.normalize(torch.tensor(x), dim=0, out=torch.zeros(3, 5))
    assert got is out
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(view.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)
    needs_grad = zili.zeros(3, 5, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic"):
        F.normalize(zili.tensor(x, device=device), out=needs_grad)
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic"):
        TF.normalize(torch.tensor(x), out=torch.zeros(3, 5, requires_grad=True))
    with pytest.raises(ShapeError, match=r"normalize: out has shape \(5,\)"):
        F.normalize(zili.tensor(x, device=device), out=zili.zeros(5, device=device))
