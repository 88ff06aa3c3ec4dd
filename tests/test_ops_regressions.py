"""Regression tests for the bugs of issue 10 item 4, each named after the behaviour and
checked against PyTorch on every device."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import zili
from tests.helpers import assert_close, compare, zt
from zili.errors import ArgumentError, ShapeError

INF = float("inf")


@pytest.mark.parametrize("np_dtype", [np.int32, np.int64, np.uint8])
def test_integer_min_is_exact_at_the_type_limits(device, np_dtype):
    info = np.iinfo(np_dtype)
    data = np.array([[info.min, 5, info.max], [7, info.max, 0]], np_dtype)
    x, other = zt(data, device), zt(data[::-1].copy(), device)
    t, t_other = torch.from_numpy(data.copy()), torch.from_numpy(data[::-1].copy())
    assert x.min().item() == t.min().item()
    np.testing.assert_array_equal(x.amin(1).numpy(), t.amin(1).numpy())
    np.testing.assert_array_equal(x.min(0).values.numpy(), t.min(0).values.numpy())
    np.testing.assert_array_equal(x.argmin(1).numpy(), t.argmin(1).numpy())
    np.testing.assert_array_equal(x.minimum(other).numpy(), torch.minimum(t, t_other).numpy())


def test_integer_index_into_padding_reads_the_pad_value(device):
    data = np.arange(1, 4, dtype=np.float32)
    x = zt(data, device)
    padded = x.pad_axes(((2, 1),))
    expected = torch.nn.functional.pad(torch.from_numpy(data), (2, 1))
    for i in range(-6, 6):
        assert padded[i].item() == expected[i].item(), f"index {i}"
    grid = zt(np.ones((2, 2), np.float32), device).pad_axes(((1, 0), (0, 1)))
    assert grid[0, 0].item() == 0.0 and grid[1, 2].item() == 0.0 and grid[1, 1].item() == 1.0


def test_integer_index_into_padding_passes_no_gradient(device):
    x = zt(np.array([1.0, 2.0]), device, requires_grad=True)
    padded = x.pad_axes(((1, 1),))
    (padded[0] + padded[1] * 3 + padded[3]).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0])


EDGE = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -2.5, INF, -INF, np.nan, 0.5], np.float64)


@pytest.mark.parametrize("p", [0.0, 0.3, -0.3, 2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 1.7])
def test_pow_edge_values_and_gradients_match_pytorch(device, p):
    x = zt(EDGE, device, requires_grad=True)
    tx = torch.tensor(EDGE, requires_grad=True)
    out, tout = x ** p, tx ** p
    assert_close(out, tout, what=f"x ** {p}")
    out.backward(zt(np.ones_like(EDGE), device))
    tout.backward(torch.ones_like(tout))
    assert_close(x.grad, tx.grad, what=f"d(x ** {p})/dx")


def test_pow_zero_exponent_is_one_everywhere(device):
    x = zt(EDGE, device)
    np.testing.assert_array_equal((x ** 0).numpy(), np.ones_like(EDGE))
    np.testing.assert_array_equal((x ** zt(np.zeros_like(EDGE), device)).numpy(),
                                  np.ones_like(EDGE))
    assert (zt(np.array([-INF]), device) ** 0.3).item() == INF


def test_pow_tensor_exponent_gradient_matches_pytorch(device):
    rng = np.random.default_rng(0)
    base = np.array([0.0, 0.0, 2.0, -2.0, -2.0, 0.5, INF, 3.0])
    expo = np.array([0.0, 2.0, 0.5, 2.0, 0.5, -1.5, 2.0, -0.0])
    compare(lambda a, b: a ** b, lambda a, b: a ** b, [base, expo], device)
    a, b = rng.uniform(0.1, 3, (3, 4)), rng.uniform(-2, 2, (4,))
    compare(lambda a, b: a.pow(b), lambda a, b: a.pow(b), [a, b], device)


def test_pow_integer_promotion_and_exactness(device):
    ints = np.array([-3, -1, 0, 2, 7, 46340], np.int64)
    x, t = zt(ints, device), torch.from_numpy(ints.copy())
    for p in (0, 1, 2, 3, 5):
        out = x ** p
        assert out.dtype is zili.int64
        np.testing.assert_array_equal(out.numpy(), (t ** p).numpy())
    out = x ** 0.5
    assert out.dtype is zili.float32 and (t ** 0.5).dtype is torch.float32
    assert_close(out, t ** 0.5, "float32")
    e = np.array([0, 1, 2, 3, 4, 1], np.int32)
    np.testing.assert_array_equal((x ** zt(e, device)).numpy(),
                                  (t ** torch.from_numpy(e.copy())).numpy())
    np.testing.assert_array_equal((2 ** zt(e, device)).numpy(), (2 ** torch.from_numpy(e)).numpy())


def test_integer_to_negative_power_raises(device):
    x = zt(np.array([1, 2, 3]), device)
    with pytest.raises(RuntimeError, match="negative integer powers"):
        _ = x ** -2
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2, 3]) ** -2
    with pytest.raises(ArgumentError):
        _ = x ** zt(np.array([1, -1, 2]), device)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cos_and_its_gradient_are_accurate_at_large_arguments(device, dtype):
    values = np.array([1e4, -12345.678, 1e5 + 0.3, 3e6, 0.1, -7.0, 0.0], dtype)
    x = zt(values, device, requires_grad=True)
    tx = torch.tensor(values, requires_grad=True)
    x.cos().backward(zt(np.ones_like(values), device))
    tx.cos().backward(torch.ones_like(tx))
    atol = 1e-6 if dtype == "float32" else 1e-12
    assert_close(x.cos(), tx.cos(), dtype, "cos", rtol=0, atol=atol)
    assert_close(x.grad, tx.grad, dtype, "d cos / dx", rtol=0, atol=atol)
    y = zt(values, device, requires_grad=True)
    ty = torch.tensor(values, requires_grad=True)
    y.sin().backward(zt(np.ones_like(values), device))
    ty.sin().backward(torch.ones_like(ty))
    assert_close(y.grad, ty.grad, dtype, "d sin / dx", rtol=0, atol=atol)


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "max", "min", "prod_like",
                                "softmax", "log_softmax", "logsumexp", "argmax", "any", "all"])
def test_reducing_a_zero_dim_tensor_over_dim_zero(device, op):
    value = np.array(2.5)
    x, t = zt(value, device), torch.tensor(value)
    if op == "prod_like":
        out, expected = (x * x).sum(-1), (t * t).sum(-1)
    elif op in ("max", "min"):
        out, expected = getattr(x, op)(0).values, getattr(t, op)(0).values
    else:
        out, expected = getattr(x, op)(0), getattr(t, op)(0)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy().astype(np.float64),
                               expected.numpy().astype(np.float64))


def test_zero_dim_reduction_keeps_its_gradient(device):
    x = zt(np.array(3.0), device, requires_grad=True)
    x.softmax(0).sum(0).backward()
    assert x.grad.item() == 0.0
    y = zt(np.array(3.0), device, requires_grad=True)
    y.sum(0).backward()
    assert y.grad.item() == 1.0


@pytest.mark.parametrize("shape,dim", [((0, 3), 0), ((2, 0), 1), ((0,), 0), ((2, 0, 3), 1)])
def test_any_and_all_over_an_empty_axis(device, shape, dim):
    for dtype in (np.float32, np.int64, np.bool_):
        data = np.zeros(shape, dtype)
        x, t = zt(data, device), torch.from_numpy(data)
        np.testing.assert_array_equal(x.any(dim).numpy(), t.any(dim).numpy())
        np.testing.assert_array_equal(x.all(dim).numpy(), t.all(dim).numpy())
        assert x.any().item() == t.any().item() and x.all().item() == t.all().item()


def test_shape_errors_are_catchable_as_runtime_error(device):
    a, b = zt(np.ones((2, 3)), device), zt(np.ones((2, 3)), device)
    cases = [lambda: a @ b, lambda: a.permute(0, 0), lambda: a.reshape(4),
             lambda: a + zt(np.ones(4), device),
             lambda: a.gather(0, zt(np.zeros((3, 4), np.int64), device))]
    for case in cases:
        with pytest.raises(RuntimeError) as caught:
            case()
        assert isinstance(caught.value, ValueError)  # both habits keep working
        assert isinstance(caught.value, ShapeError)


def test_invalid_arguments_raise_as_pytorch(device):
    x = zt(np.array([1.0, -2.0, 3.0]), device)
    t = torch.tensor([1.0, -2.0, 3.0])
    for zfn, tfn in [(lambda: x.flip((0, 0)), lambda: t.flip((0, 0))),
                     (lambda: x.clamp(None, None), lambda: t.clamp(None, None)),
                     (lambda: zili.linspace(0, 1, 5, dtype=zili.bool, device=device),
                      lambda: torch.linspace(0, 1, 5, dtype=torch.bool))]:
        with pytest.raises(RuntimeError):
            tfn()
        with pytest.raises(RuntimeError):
            zfn()


def test_gather_accepts_int32_indices(device):
    data = np.random.default_rng(1).standard_normal((3, 4))
    index = np.array([[0, 3], [2, 2], [1, 0]], np.int32)
    compare(lambda x: x.gather(1, zt(index, device)),
            lambda x: x.gather(1, torch.from_numpy(index.astype(np.int64))), [data], device)
    assert math.isfinite(zt(data, device).gather(1, zt(index, device)).sum().item())
