"""Floating floor division and remainder as PyTorch computes them, on every device, eager and
jitted: through fmod, so 1 // 0.1 is 9 (not floor(1 / 0.1) = 10), inf // 1 is nan, a zero
quotient or remainder keeps its sign (-0.0 % 1 is -0.0), and division by zero gives a / b.
Also a regression for constants: -0.0 and 0.0 must not share a cached constant buffer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili

SPECIAL = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 7.5, -2.5, 1e30, 1e-30]


def _same(got: np.ndarray, want: np.ndarray) -> None:
    """Equal values, NaN where NaN, and the same sign on zeros."""
    both_nan = np.isnan(got) & np.isnan(want)
    equal = (got == want) & (np.signbit(got) == np.signbit(want))
    bad = ~(both_nan | equal)
    assert not bad.any(), f"got {got[bad][:6]}, PyTorch {want[bad][:6]}"


OPS = {"floor_divide": (lambda x, y: x // y), "remainder": (lambda x, y: x % y),
       "div_floor": (lambda x, y: x.div(y, rounding_mode="floor"))}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("jitted", [False, True])
def test_special_values_match_pytorch(device: str, dtype: str, op: str, jitted: bool) -> None:
    a, b = (x.ravel().astype(dtype) for x in np.meshgrid(SPECIAL, SPECIAL))
    fn = OPS[op]
    run = zili.jit(fn) if jitted else fn
    za, zb = zili.tensor(a, device=device), zili.tensor(b, device=device)
    for _ in range(3 if jitted else 1):  # eager first call, trace, replay
        got = run(za, zb).numpy()
        _same(got, fn(torch.tensor(a), torch.tensor(b)).numpy())


def test_one_floor_divided_by_a_tenth_is_nine_as_python(device: str) -> None:
    got = (zili.tensor([1.0], dtype=zili.float64, device=device) // 0.1).numpy()
    assert got[0] == 1.0 // 0.1 == 9.0
    assert (zili.tensor([float("inf")], device=device) // 1).isnan().all()


def test_negative_zero_constant_keeps_its_sign(device: str) -> None:
    x = zili.tensor([1.0, 2.0], device=device)
    zero = (x > 0)._where(0.0, 1.0)  # caches the constant 0.0 first
    negative = (x > 0)._where(-0.0, 1.0)
    assert not np.signbit(zero.numpy()).any()
    assert np.signbit(negative.numpy()).all()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(1, 6), min_size=0, max_size=3), seed=st.integers(0, 2**31),
       scale=st.sampled_from([1e-3, 1.0, 1e3]))
@pytest.mark.parametrize("op", list(OPS))
def test_random_values_and_gradients_match_pytorch(device: str, op: str, shape: list[int],
                                                   seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.standard_normal(shape) * scale * 10, np.float64)
    b = np.asarray(rng.standard_normal(shape) * scale, np.float64)
    za = zili.tensor(a, device=device, requires_grad=True)
    zb = zili.tensor(b, device=device, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    got, want = OPS[op](za, zb), OPS[op](ta, tb)
    _same(got.detach().numpy(), want.detach().numpy())
    got.sum().backward()
    if op == "floor_divide":  # PyTorch has no derivative for `//`; zili's is div_floor's: 0
        want = OPS["div_floor"](ta, tb)
    want.sum().backward()
    np.testing.assert_array_equal(za.grad.numpy(), ta.grad.numpy())
    np.testing.assert_array_equal(zb.grad.numpy(), tb.grad.numpy())


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "int8"])
def test_integer_division_by_zero_raises_as_pytorch(device: str, dtype: str) -> None:
    a = np.array([5, 3, 0], dtype)
    b = np.array([2, 0, 1], dtype)
    za, zb = zili.tensor(a, device=device), zili.tensor(b, device=device)
    ta, tb = torch.tensor(a), torch.tensor(b)
    cases = [lambda x, y: x // y, lambda x, y: x % y, lambda x, y: x.fmod(y),
             lambda x, y: x.div(y, rounding_mode="trunc"), lambda x, y: x // 0,
             lambda x, y: x % 0, lambda x, y: 7 // y, lambda x, y: x.remainder(y)]
    for case in cases:
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            case(ta, tb)
        with pytest.raises(RuntimeError, match="ZeroDivisionError.*division by zero") as info:
            case(za, zb)
        assert isinstance(info.value, ZeroDivisionError)
    # nonzero integer divisors still divide, as PyTorch
    ok = np.array([2, 1, 3], dtype)
    zo, to = zili.tensor(ok, device=device), torch.tensor(ok)
    for case in cases[:4]:
        np.testing.assert_array_equal(case(za, zo).numpy(), case(ta, to).numpy())
