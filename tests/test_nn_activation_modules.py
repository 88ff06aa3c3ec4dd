"""Every activation module of torch.nn against PyTorch's: constructor arguments, repr,
forward and backward on random shapes (hypothesis), in place, PReLU's parameter, Softmax's
implicit dim, on every device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import zili
from tests.helpers import compare, zt

SETTINGS = settings(max_examples=2, deadline=None, phases=[Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# (name, positional args, keyword args)
MODULES = [
    ("ReLU", (), {}), ("LeakyReLU", (0.2,), {}), ("ELU", (), {"alpha": 0.7}), ("SELU", (), {}),
    ("CELU", (0.5,), {}), ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}),
    ("Hardsigmoid", (), {}), ("Hardswish", (), {}), ("Hardtanh", (-2.0, 1.5), {}),
    ("Hardtanh", (), {"min_value": -0.5, "max_value": 0.5}), ("ReLU6", (), {}), ("Mish", (), {}),
    ("SiLU", (), {}), ("Softsign", (), {}), ("Softplus", (2.0, 3.0), {}), ("LogSigmoid", (), {}),
    ("Tanhshrink", (), {}), ("Threshold", (0.1, 20.0), {}), ("GLU", (), {"dim": 1}),
    ("Softmax", (), {"dim": 1}), ("LogSoftmax", (0,), {}), ("Softmin", (), {"dim": -1}),
    ("Hardshrink", (), {}), ("Softshrink", (0.3,), {}), ("Sigmoid", (), {}), ("Tanh", (), {}),
    ("RReLU", (0.1, 0.3), {}),
]


@SETTINGS
@given(seed=st.integers(0, 10**6), rows=st.integers(1, 4), cols=st.sampled_from([2, 6]))
def test_activation_modules_match_pytorch(device, seed, rows, cols):
    x = np.random.default_rng(seed).standard_normal((rows, cols, 3)) * 3
    for name, args, kwargs in MODULES:
        zm, tm = getattr(zili.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        assert repr(zm) == repr(tm)
        if name == "RReLU":  # random slopes while training: compare in evaluation
            zm.eval()
            tm.eval()
        # PyTorch's Hardsigmoid backward multiplies by the float32 1/6, even in float64
        rtol = 1e-7 if name == "Hardsigmoid" else None
        compare(zm, tm, [x], device, rtol=rtol)
        compare(zm, tm, [x.transpose(2, 1, 0)], device, rtol=rtol)  # a non-contiguous input
    compare(zili.nn.Softmax2d(), torch.nn.Softmax2d(), [x], device)


def test_activation_modules_on_empty_and_0d_inputs(device):
    for name, args, kwargs in MODULES:
        if name in ("GLU", "Softmax", "LogSoftmax", "Softmin"):
            continue
        zm, tm = getattr(zili.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        zm.eval()
        tm.eval()
        compare(zm, tm, [np.array(0.7)], device, rtol=1e-7)
        compare(zm, tm, [np.zeros((0, 3))], device)


def test_inplace_activation_writes_the_input_as_pytorch(device):
    x = np.random.default_rng(1).standard_normal((4, 5))
    for name, kwargs in (("ReLU", {}), ("LeakyReLU", {"negative_slope": 0.3}), ("ELU", {}),
                         ("Hardtanh", {}), ("ReLU6", {}), ("SiLU", {}), ("Threshold",
                                                                         {"threshold": 0.2,
                                                                          "value": -1.0})):
        zx, tx = zt(x, device), torch.tensor(x)
        zm = getattr(zili.nn, name)(inplace=True, **kwargs)
        tm = getattr(torch.nn, name)(inplace=True, **kwargs)
        assert repr(zm) == repr(tm)
        zy, ty = zm(zx), tm(tx)
        np.testing.assert_allclose(zx.numpy(), tx.numpy(), rtol=1e-12)
        np.testing.assert_allclose(zy.numpy(), ty.numpy(), rtol=1e-12)
    # through autograd: an in-place activation on a non-leaf, as a network uses it
    compare(lambda a: zili.nn.ReLU(inplace=True)(a * 2.0),
            lambda a: torch.nn.ReLU(inplace=True)(a * 2.0), [x], device)


def test_prelu_parameter_and_gradient_match_pytorch(device):
    x = np.random.default_rng(2).standard_normal((3, 4, 5))
    for count in (1, 4):
        zm, tm = zili.nn.PReLU(count, init=0.1, device=device), torch.nn.PReLU(count, init=0.1)
        assert repr(zm) == repr(tm)
        assert [n for n, _ in zm.named_parameters()] == [n for n, _ in tm.named_parameters()]
        zx = zt(x, device, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        zm.weight.data = zm.weight.data.double()
        tm = tm.double()
        cot = np.random.default_rng(3).standard_normal(x.shape)
        zm(zx).backward(zt(cot, device))
        tm(tx).backward(torch.tensor(cot))
        np.testing.assert_allclose(zm.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(zx.grad.numpy(), tx.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_softmax_without_dim_picks_pytorchs_implicit_axis(ndim):
    x = np.random.default_rng(ndim).standard_normal((2, 3, 4, 5)[:ndim])
    for name in ("Softmax", "LogSoftmax", "Softmin"):
        with pytest.warns(UserWarning):  # PyTorch warns about the implicit choice
            want = getattr(torch.nn, name)()(torch.tensor(x)).numpy()
        np.testing.assert_allclose(getattr(zili.nn, name)()(zt(x, "numpy")).numpy(), want,
                                   rtol=1e-12)


def test_hardtanh_rejects_max_below_min():
    with pytest.raises(zili.errors.ArgumentError, match="Hardtanh"):
        zili.nn.Hardtanh(1.0, -1.0)
