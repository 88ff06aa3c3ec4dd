"""Edge values that used to crash the process or give silently wrong answers, each compared
with PyTorch on every device: integer overflow in division, invalid shapes, negative class
indices, NaN in argmax/relu/max/min/clamp, the sign of abs(-0.0), and Tensor.where."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import zili
import zili.nn.functional as F

INT64_MIN = -(2 ** 63)


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_int_min_floor_divide_and_mod_by_minus_one_match_torch(device: str, dtype: str) -> None:
    low = INT64_MIN if dtype == "int64" else -(2 ** 31)
    values = np.array([low, low + 1, 7, -7, 0], dtype=dtype)
    divisors = np.array([-1, -1, -1, 2, -1], dtype=dtype)
    a, b = zili.tensor(values, device=device), zili.tensor(divisors, device=device)
    ta, tb = torch.tensor(values), torch.tensor(divisors)
    np.testing.assert_array_equal((a // b).numpy(), (ta // tb).numpy())
    np.testing.assert_array_equal((a % b).numpy(), (ta % tb).numpy())
    np.testing.assert_array_equal((a // -1).numpy(), (ta // -1).numpy())


@pytest.mark.parametrize("make", [
    lambda lib, x: x.reshape(-2, -3),
    lambda lib, x: x.reshape(-1, -1),
    lambda lib, x: x.view(3, -2),
    lambda lib, x: x.reshape(2, 3)[:1].expand(-2, 3),
    lambda lib, x: x.reshape(2, 3).expand(-1, 2, 3),
    lambda lib, x: x.repeat(-1),
    lambda lib, x: lib.zeros(2, -3),
], ids=["reshape-2-3", "reshape-1-1", "view-2", "expand-2", "expand-new-1", "repeat-1",
        "zeros-3"])
def test_invalid_shapes_raise_like_torch(device: str, make) -> None:
    with pytest.raises((RuntimeError, ValueError)):
        make(torch, torch.arange(6.0))
    with pytest.raises(ValueError, match="shape|size|negative|-1"):
        make(zili, zili.arange(6, device=device).float())


def test_flip_contiguous_after_refused_reshape_reads_own_data(device: str) -> None:
    x = zili.arange(6, device=device).float().reshape(2, 3)
    with pytest.raises(ValueError):
        x.reshape(-2, -3)
    np.testing.assert_array_equal(x.flip(1).contiguous().numpy(),
                                  torch.arange(6.0).reshape(2, 3).flip(1).numpy())


def test_negative_class_indices_raise_like_torch(device: str) -> None:
    logits = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    target = np.array([1, -1, 2])
    z_logits, z_target = zili.tensor(logits, device=device), zili.tensor(target, device=device)
    t_logits, t_target = torch.tensor(logits), torch.tensor(target)
    cases = [
        (lambda: TF.cross_entropy(t_logits, t_target),
         lambda: F.cross_entropy(z_logits, z_target)),
        (lambda: TF.nll_loss(t_logits, t_target), lambda: F.nll_loss(z_logits, z_target)),
        (lambda: TF.embedding(t_target, t_logits), lambda: F.embedding(z_target, z_logits)),
        (lambda: t_logits.gather(1, t_target.reshape(3, 1)),
         lambda: z_logits.gather(1, z_target.reshape(3, 1))),
        (lambda: torch.zeros(3, 4).scatter_add(1, t_target.reshape(3, 1), torch.ones(3, 1)),
         lambda: zili.zeros(3, 4, device=device).scatter_add(
             1, z_target.reshape(3, 1), zili.ones(3, 1, device=device))),
    ]
    for torch_call, zili_call in cases:
        with pytest.raises((IndexError, RuntimeError)):
            torch_call()
        with pytest.raises(IndexError, match="out of range|out of bounds"):
            zili_call().numpy()
    # ignore_index is the one negative value that is allowed
    want = TF.cross_entropy(t_logits, t_target, ignore_index=-1)
    got = F.cross_entropy(z_logits, z_target, ignore_index=-1)
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-5)
    want = TF.nll_loss(t_logits, t_target, ignore_index=-1)
    np.testing.assert_allclose(F.nll_loss(z_logits, z_target, ignore_index=-1).item(),
                               want.item(), rtol=1e-5)


def test_argmax_argmin_and_max_return_the_nan(device: str) -> None:
    values = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, -1.0, 0.0]], np.float32)
    z, t = zili.tensor(values, device=device), torch.tensor(values)
    np.testing.assert_array_equal(z.argmax(1).numpy(), t.argmax(1).numpy())
    np.testing.assert_array_equal(z.argmin(1).numpy(), t.argmin(1).numpy())
    assert z.argmax().item() == t.argmax().item()
    assert zili.tensor([1.0, float("nan"), 3.0], device=device).argmax().item() == 1
    values_z, index_z = z.max(1)
    values_t, index_t = t.max(1)
    np.testing.assert_array_equal(values_z.numpy(), values_t.numpy())
    np.testing.assert_array_equal(index_z.numpy(), index_t.numpy())
    np.testing.assert_array_equal(z.min(1)[0].numpy(), t.min(1)[0].numpy())


def test_nan_propagates_through_relu_maximum_minimum_and_clamp(device: str) -> None:
    values = np.array([np.nan, -1.0, 0.0, 2.0, np.nan, 5.0], np.float32)
    other = np.array([1.0, np.nan, 0.5, 1.0, np.nan, 4.0], np.float32)
    z, zo = zili.tensor(values, device=device), zili.tensor(other, device=device)
    t, to = torch.tensor(values), torch.tensor(other)
    pairs = [
        (z.relu(), torch.relu(t)), (F.relu(z), TF.relu(t)),
        (z.maximum(zo), torch.maximum(t, to)), (z.minimum(zo), torch.minimum(t, to)),
        (z.clamp(0.0, 3.0), t.clamp(0.0, 3.0)), (z.clamp(min=zo), t.clamp(min=to)),
        (z.clamp(max=float("nan")), t.clamp(max=float("nan"))),
        (z.amax().reshape(1), t.amax().reshape(1)), (z.amin().reshape(1), t.amin().reshape(1)),
    ]
    for got, want in pairs:
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    # relu's gradient, NaN included, as PyTorch's
    zg = zili.tensor(values, device=device, requires_grad=True)
    tg = torch.tensor(values, requires_grad=True)
    zg.relu().sum().backward()
    tg.relu().sum().backward()
    np.testing.assert_array_equal(zg.grad.numpy(), tg.grad.numpy())


def test_abs_of_negative_zero_is_positive_zero(device: str) -> None:
    values = np.array([-0.0, 0.0, -2.5, np.nan, -np.inf], np.float32)
    got = zili.tensor(values, device=device).abs().numpy()
    want = torch.tensor(values).abs().numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_tensor_where_selects_self_where_condition_holds(device: str) -> None:
    x = np.array([1.0, 2.0, 3.0], np.float32)
    y = np.array([10.0, 20.0, 30.0], np.float32)
    cond = np.array([True, False, True])
    zx, zy, zc = (zili.tensor(v, device=device) for v in (x, y, cond))
    tx, ty, tc = torch.tensor(x), torch.tensor(y), torch.tensor(cond)
    np.testing.assert_array_equal(zx.where(zc, zy).numpy(), tx.where(tc, ty).numpy())
    np.testing.assert_array_equal(zx.where(zc, 0.5).numpy(), tx.where(tc, 0.5).numpy())
    np.testing.assert_array_equal(zili.where(zc, zx, zy).numpy(), torch.where(tc, tx, ty).numpy())
    with pytest.raises(TypeError, match="condition must be bool"):
        zc.where(zx, zy)  # the old, condition-first reading is refused, not misread


def test_every_comparison_with_nan_is_false_but_not_equal(device: str) -> None:
    # a <= b was computed as ~(a > b), which is True against NaN
    values = np.array([np.nan, 1.0, np.inf, -np.inf, 0.0], np.float32)
    a, b = (x.ravel() for x in np.meshgrid(values, values))
    za, zb = zili.tensor(a, device=device), zili.tensor(b, device=device)
    ta, tb = torch.tensor(a), torch.tensor(b)
    for op in ["__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"]:
        np.testing.assert_array_equal(getattr(za, op)(zb).numpy(), getattr(ta, op)(tb).numpy(),
                                      err_msg=op)
        np.testing.assert_array_equal(getattr(za, op)(1.0).numpy(),
                                      getattr(ta, op)(1.0).numpy(), err_msg=op)
