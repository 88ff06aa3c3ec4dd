"""torch.Tensor's everyday methods that zili writes as compositions (zili/tensor/surface.py):
each against PyTorch on random values (hypothesis), forward and gradient, every device;
NaN, inf and zero where the method is about them; the errors PyTorch raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
from zili.errors import ShapeError

SPECIAL = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 1e30, -1e-30, 3.0],
                   np.float64)

# name -> (number of tensor operands, shape maker, call taking (lib_or_tensor, *operands))
UNARY = {
    "neg": lambda x: x.neg(), "negative": lambda x: x.negative(),
    "positive": lambda x: x.positive(), "absolute": lambda x: x.absolute(),
    "ravel": lambda x: x.ravel(), "deg2rad": lambda x: x.deg2rad(),
    "rad2deg": lambda x: x.rad2deg(), "sinc": lambda x: x.sinc(),
    "nan_to_num": lambda x: x.nan_to_num(), "nan_to_num_args": lambda x: x.nan_to_num(
        1.5, 7.0, -7.0), "clamp_min": lambda x: x.clamp_min(0.2),
    "clamp_max": lambda x: x.clamp_max(-0.1), "count_nonzero": lambda x: x.count_nonzero(),
    "nansum": lambda x: x.nansum(), "nanmean": lambda x: x.nanmean(),
    "isposinf": lambda x: x.isposinf(), "isneginf": lambda x: x.isneginf(),
    "logit": lambda x: (x.sigmoid()).logit(), "logit_eps": lambda x: x.sigmoid().logit(1e-2),
    "float_power": lambda x: x.float_power(2), "tile": lambda x: x.tile((2, 1)),
    "roll": lambda x: x.roll(2), "roll_dims": lambda x: x.roll((1, -1), (0, -1)) if x.ndim > 1
    else x.roll(1, 0), "flat_take": lambda x: x.take(
        (torch.tensor([0, -1]) if isinstance(x, torch.Tensor) else zili.tensor(
            [0, -1], device=x.device)) % max(x.numel(), 1)),
    "diff": lambda x: x.diff(), "diff2": lambda x: x.diff(2, 0),
    "repeat_interleave": lambda x: x.repeat_interleave(2),
    "tensor_split": lambda x: x.tensor_split(3, 0)[1],
    "split_with_sizes": lambda x: x.split_with_sizes([1, x.shape[0] - 1], 0)[1],
}
PAIR = {
    "multiply": lambda a, b: a.multiply(b), "divide": lambda a, b: a.divide(b),
    "subtract": lambda a, b: a.subtract(b, alpha=2), "fmax": lambda a, b: a.fmax(b),
    "fmin": lambda a, b: a.fmin(b), "hypot": lambda a, b: a.hypot(b),
    "logaddexp": lambda a, b: a.logaddexp(b), "logaddexp2": lambda a, b: a.logaddexp2(b),
    "xlogy": lambda a, b: a.xlogy(b.abs()), "heaviside": lambda a, b: a.heaviside(b),
    "addcmul": lambda a, b: a.addcmul(b, b, value=0.5),
    "addcdiv": lambda a, b: a.addcdiv(b, b * b + 1, value=-2),
}
COMPARE = {
    "greater": lambda a, b: a.greater(b), "greater_equal": lambda a, b: a.greater_equal(b),
    "less": lambda a, b: a.less(b), "less_equal": lambda a, b: a.less_equal(b),
    "not_equal": lambda a, b: a.not_equal(b), "logical_and": lambda a, b: a.logical_and(b),
    "logical_or": lambda a, b: a.logical_or(b), "logical_xor": lambda a, b: a.logical_xor(b),
}


def _pair(array: np.ndarray, device: str, grad: bool = True):
    return (zili.tensor(array, device=device, requires_grad=grad),
            torch.tensor(array, requires_grad=grad))


def _compare(got, want, zin, tin, exact: bool = False) -> None:
    g, w = got.detach().numpy(), want.detach().numpy()
    assert g.shape == w.shape
    assert str(got.dtype.name) == str(want.dtype).removeprefix("torch.")
    np.testing.assert_allclose(g, w, rtol=0 if exact else 1e-10, atol=0 if exact else 1e-12,
                               equal_nan=True)
    if not want.requires_grad or not want.dtype.is_floating_point:
        return
    seed = np.random.default_rng(abs(hash(w.shape)) % 2**31).standard_normal(w.shape)
    got.backward(zili.tensor(seed, device=got.device, dtype=got.dtype))
    want.backward(torch.tensor(seed, dtype=want.dtype))
    for z, t in zip(zin, tin):
        if t.grad is None:
            assert z.grad is None or not np.any(z.grad.numpy())
            continue
        np.testing.assert_allclose(z.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   equal_nan=True)


settings_ = settings(max_examples=6, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3)


@settings_
@given(shape=shapes, seed=st.integers(0, 2**31))
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_methods_match_pytorch(device: str, name: str, shape: list[int],
                                     seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(shape)
    if name == "tensor_split":
        x = np.random.default_rng(seed).standard_normal([max(shape[0], 3), *shape[1:]])
    if name == "split_with_sizes" and x.shape[0] < 2:
        x = np.concatenate([x, x])
    z, t = _pair(x, device)
    _compare(UNARY[name](z), UNARY[name](t), [z], [t])


@pytest.mark.parametrize("name", ["sinc", "nan_to_num", "nansum", "nanmean", "isposinf",
                                  "isneginf", "count_nonzero"])
def test_unary_methods_on_special_values(device: str, name: str) -> None:
    z, t = _pair(SPECIAL, device, grad=False)
    _compare(UNARY[name](z), UNARY[name](t), [z], [t])


@settings_
@given(shape=shapes, seed=st.integers(0, 2**31), broadcast=st.booleans())
@pytest.mark.parametrize("name", list(PAIR))
def test_binary_methods_match_pytorch(device: str, name: str, shape: list[int], seed: int,
                                      broadcast: bool) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    b = rng.standard_normal(shape[-1:] if broadcast else shape)
    if name == "heaviside":
        a[..., 0] = 0.0
    za, ta = _pair(a, device)
    zb, tb = _pair(b, device, grad=name != "heaviside")
    if name == "heaviside":
        ta = torch.tensor(a)
        za = zili.tensor(a, device=device)
    _compare(PAIR[name](za, zb), PAIR[name](ta, tb), [za, zb], [ta, tb])


@pytest.mark.parametrize("name", ["fmax", "fmin", "hypot", "logaddexp", "logaddexp2", "xlogy"])
def test_binary_methods_on_special_values(device: str, name: str) -> None:
    a, b = (v.ravel() for v in np.meshgrid(SPECIAL, SPECIAL))
    za, ta = _pair(a, device, grad=False)
    zb, tb = _pair(b, device, grad=False)
    got, want = PAIR[name](za, zb), PAIR[name](ta, tb)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=0, equal_nan=True)


@pytest.mark.parametrize("name", list(COMPARE))
def test_comparisons_and_logical_ops_match_pytorch(device: str, name: str) -> None:
    a, b = (v.ravel() for v in np.meshgrid(SPECIAL[:7], SPECIAL[:7]))
    za, ta = _pair(a, device, grad=False)
    zb, tb = _pair(b, device, grad=False)
    _compare(COMPARE[name](za, zb), COMPARE[name](ta, tb), [], [], exact=True)


def test_integer_bitwise_and_introspection_match_pytorch(device: str) -> None:
    a = np.array([[5, -3, 0], [7, 2, -8]], np.int64)
    b = np.array([3, 6, -1], np.int64)
    za, zb = zili.tensor(a, device=device), zili.tensor(b, device=device)
    ta, tb = torch.tensor(a), torch.tensor(b)
    for name in ["bitwise_and", "bitwise_or", "bitwise_xor"]:
        np.testing.assert_array_equal(getattr(za, name)(zb).numpy(),
                                      getattr(ta, name)(tb).numpy())
    t = za.transpose(0, 1)
    tt = ta.transpose(0, 1)
    assert (t.is_contiguous(), t.stride(), t.stride(0), za[1].storage_offset()) == \
        (tt.is_contiguous(), tt.stride(), tt.stride(0), ta[1].storage_offset())
    assert (za.ndimension(), za.nelement(), za.is_complex(), za.is_signed(),
            zili.tensor([1], dtype=zili.uint8).is_signed()) == \
        (ta.ndimension(), ta.nelement(), ta.is_complex(), ta.is_signed(),
         torch.tensor([1], dtype=torch.uint8).is_signed())
    for name, args in [("new_zeros", (2, 3)), ("new_ones", ((4,),)), ("new_full", ((2,), 7)),
                       ("new_tensor", ([1.5, 2.5],))]:
        got, want = getattr(za, name)(*args), getattr(ta, name)(*args)
        assert got.dtype.name == str(want.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert za.new_zeros(2, dtype=zili.float32).dtype is zili.float32
    assert za.type_as(zili.tensor([1.0])).dtype is zili.float32


@settings_
@given(n=st.integers(1, 5), m=st.integers(1, 5), k=st.integers(1, 5), seed=st.integers(0, 2**31))
def test_matrix_products_match_pytorch(device: str, n: int, m: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in [(n, k), (k, m), (2, n, k), (2, k, m), (k,),
                                                 (n, m), (m,)]]
    pairs = [_pair(a, device) for a in arrays]
    z, t = [p[0] for p in pairs], [p[1] for p in pairs]
    calls = [lambda x: x[0].mm(x[1]), lambda x: x[2].bmm(x[3]), lambda x: x[0].mv(x[4]),
             lambda x: x[4].outer(x[6]), lambda x: x[5].addmm(x[0], x[1], beta=0.5, alpha=2),
             lambda x: x[0].kron(x[1]), lambda x: x[5].tril(-1), lambda x: x[5].triu(1),
             lambda x: x[5].diagonal(1), lambda x: x[2].diagonal(-1, 0, 2),
             lambda x: x[4].diag(1), lambda x: x[5].diag(), lambda x: x[0].trace() if n == k
             else x[0].sum(), lambda x: x[2].movedim(0, -1), lambda x: x[2].moveaxis((0, 1),
                                                                                  (2, 0)),
             lambda x: x[2].swapaxes(0, 2), lambda x: x[2].select(1, -1),
             lambda x: x[2].aminmax(dim=1).max]
    for call in calls:
        for tensor in z + t:
            tensor.grad = None
        _compare(call(z), call(t), z, t)


def test_cross_and_errors_match_pytorch(device: str) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    za, ta = _pair(a, device)
    zb, tb = _pair(b, device)
    _compare(za.cross(zb, dim=1), ta.cross(tb, dim=1), [za, zb], [ta, tb])
    with pytest.raises(ShapeError, match="mm: both operands must be 2-D"):
        za.mm(zb[0])
    with pytest.raises(RuntimeError):
        ta.mm(tb[0])
    with pytest.raises(ShapeError, match="bmm"):
        za.bmm(zb)
    with pytest.raises(ShapeError, match="roll: shifts"):
        za.roll((1, 2), 0)
    with pytest.raises(TypeError, match="positive"):
        zili.tensor([True], device=device).positive()
