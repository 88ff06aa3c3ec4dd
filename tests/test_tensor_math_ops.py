"""Rounding, trigonometric/hyperbolic functions and inverses, copysign, div rounding modes,
shifts, isclose, prod and the cumulative family against PyTorch: random values (hypothesis),
special values, odd and empty shapes, non-contiguous inputs, forward and backward, on every
device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import compare, gradcheck, zt

SETTINGS = settings(max_examples=5, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SPECIAL = np.array([0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -2.5, np.inf, -np.inf, np.nan, 1e20, -7.0,
                    1.0, -1.0, 1e-12])

UNARY = {  # name: (domain transform of a standard normal sample, tolerance)
    "floor": (lambda x: x * 3, {}), "ceil": (lambda x: x * 3, {}),
    "trunc": (lambda x: x * 3, {}), "round": (lambda x: x * 3, {}),
    "frac": (lambda x: x * 3, {}), "log10": (lambda x: np.abs(x) + 0.1, {}),
    "log1p": (lambda x: np.abs(x) * 2 - 0.9, {}), "expm1": (lambda x: x, {}),
    "tan": (lambda x: x, {}), "atan": (lambda x: x * 5, {}),
    "asin": (lambda x: np.tanh(x) * 0.99, {}), "acos": (lambda x: np.tanh(x) * 0.99, {}),
    "sinh": (lambda x: x * 2, {}), "cosh": (lambda x: x * 2, {}),
    "asinh": (lambda x: x * 5, {}), "acosh": (lambda x: np.abs(x) * 3 + 1.01, {}),
    "atanh": (lambda x: np.tanh(x) * 0.99, {}),
}


@SETTINGS
@given(shape=st.sampled_from([(), (0,), (7,), (3, 5), (2, 1, 4)]), seed=st.integers(0, 999),
       strided=st.booleans())
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_math_matches_pytorch(device, name, shape, seed, strided):
    transform, tol = UNARY[name]
    x = transform(np.random.default_rng(seed).standard_normal(shape))
    if strided and x.ndim == 2:  # a transposed (non-contiguous) input
        compare(lambda a: getattr(a.T, name)(), lambda a: getattr(a.T, name)(), [x], device,
                **tol)
    else:
        compare(lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), [x], device, **tol)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_math_special_values(device, name):
    z, t = getattr(zt(SPECIAL, device), name)(), getattr(torch.tensor(SPECIAL), name)()
    np.testing.assert_allclose(z.numpy(), t.numpy(), rtol=1e-12, atol=1e-300, err_msg=name)


def test_inverse_trig_float32_and_finite_differences(device):
    x = np.random.default_rng(1).uniform(-0.9, 0.9, 7)
    compare(lambda a: a.atan() + a.asin() * a.acos(), lambda a: a.atan() + a.asin() * a.acos(),
            [x.astype(np.float32)], device, dtype="float32")
    gradcheck(lambda a: a.atan() + a.asinh() + a.atanh() + a.tan(), [x], device)


@pytest.mark.parametrize("name", ["atan2", "copysign", "fmod", "remainder"])
def test_binary_math_matches_pytorch(device, name):
    rng = np.random.default_rng(2)
    a = np.concatenate([rng.standard_normal(12) * 3, SPECIAL])
    b = np.concatenate([rng.standard_normal(12), np.roll(SPECIAL, 3)])
    z = getattr(zt(a, device), name)(zt(b, device)).numpy()
    t = getattr(torch.tensor(a), name)(torch.tensor(b)).numpy()
    np.testing.assert_allclose(z, t, rtol=1e-12, atol=1e-300, err_msg=name)
    finite_a, finite_b = rng.standard_normal((3, 4)), rng.standard_normal(4) + 3
    grad = [True, name != "copysign"] if name in ("atan2", "copysign") else [True, False]
    compare(lambda p, q: getattr(p, name)(q), lambda p, q: getattr(p, name)(q),
            [finite_a, finite_b], device, grad=grad)


def test_div_rounding_modes_shifts_and_scalar_remainder(device):
    ints = np.array([-7, -6, 5, 7, 0, 3, -1], np.int64)
    divs = np.array([2, -4, 3, -2, 5, 1, 3], np.int64)
    for mode in ("trunc", "floor"):
        z = zt(ints, device).div(zt(divs, device), rounding_mode=mode)
        t = torch.from_numpy(ints).div(torch.from_numpy(divs), rounding_mode=mode)
        np.testing.assert_array_equal(z.numpy(), t.numpy())
        compare(lambda a, b, m=mode: a.div(b, rounding_mode=m),
                lambda a, b, m=mode: a.div(b, rounding_mode=m),
                [ints * 1.5, divs.astype(np.float64)], device)
    compare(lambda a, b: a // b, lambda a, b: a // b, [ints * 1.5, divs * 1.0], device,
            grad=[False, False])  # PyTorch has no derivative for floor_divide
    z, t = zt(ints, device), torch.from_numpy(ints)
    np.testing.assert_array_equal((z << 3).numpy(), (t << 3).numpy())
    np.testing.assert_array_equal((z >> 1).numpy(), (t >> 1).numpy())
    np.testing.assert_array_equal((z >> zt(np.abs(divs), device)).numpy(),
                                  (t >> torch.from_numpy(np.abs(divs))).numpy())
    np.testing.assert_array_equal((5 % zt(divs, device)).numpy(), (5 % torch.from_numpy(divs))
                                  .numpy())
    np.testing.assert_array_equal((~z).numpy(), (~t).numpy())


def test_isclose_and_allclose(device):
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1.0, 0.0])
    b = np.array([1.0 + 1e-9, np.nan, np.inf, np.inf, 1.1, 1e-9])
    for equal_nan in (False, True):
        np.testing.assert_array_equal(
            zt(a, device).isclose(zt(b, device), equal_nan=equal_nan).numpy(),
            torch.tensor(a).isclose(torch.tensor(b), equal_nan=equal_nan).numpy())
    assert zt(a[:1], device).allclose(zt(b[:1], device)) is True
    assert zt(a, device).allclose(zt(b, device)) is False


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_prod_matches_pytorch(device, dim):
    x = np.random.default_rng(3).standard_normal((3, 5))
    x[1, 2] = 0.0  # a zero: the gradient of the others in its row is still exact
    zf = (lambda a: a.prod()) if dim is None else (lambda a: a.prod(dim))
    compare(zf, zf, [x], device)
    ints = np.array([[2, -3, 4], [5, 1, -1]], np.int64)
    z = zt(ints, device).prod() if dim is None else zt(ints, device).prod(dim % 2)
    t = torch.from_numpy(ints).prod() if dim is None else torch.from_numpy(ints).prod(dim % 2)
    np.testing.assert_array_equal(z.numpy(), t.numpy())
    assert zt(np.zeros((0, 3)), device).prod(0).tolist() == [1.0, 1.0, 1.0]


@SETTINGS
@given(n=st.integers(1, 9), seed=st.integers(0, 999))
@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"])
def test_cumulative_ops_match_pytorch(device, name, n, seed):
    x = np.random.default_rng(seed).standard_normal((3, n))
    x = np.round(x * 2) / 2  # ties for cummax/cummin
    for dim in (0, 1, -1):
        if name in ("cummax", "cummin"):
            zi = getattr(zt(x, device), name)(dim).indices.numpy()
            ti = getattr(torch.tensor(x), name)(dim).indices.numpy()
            np.testing.assert_array_equal(zi, ti)
            compare(lambda a, d=dim: getattr(a, name)(d).values,
                    lambda a, d=dim: getattr(a, name)(d).values, [x + np.arange(n) * 1e-3],
                    device)
        else:
            compare(lambda a, d=dim: getattr(a, name)(d), lambda a, d=dim: getattr(a, name)(d),
                    [x], device)
    ints = (x * 2).astype(np.int64)
    if name in ("cumsum", "cumprod"):
        np.testing.assert_array_equal(getattr(zt(ints, device), name)(1).numpy(),
                                      getattr(torch.from_numpy(ints), name)(1).numpy())
