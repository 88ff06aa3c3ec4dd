"""Every in-place twin (zili/tensor/inplace_ops.py TWINS) against PyTorch's, every device:
the values written, the tensor itself returned, a view of it seeing the write, gradients
through the write on a non-leaf, and PyTorch's refusals (a result dtype the tensor cannot
hold, a leaf that requires grad)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zili
from zili.errors import DTypeError
from zili.tensor.inplace_ops import TWINS

INTEGER_ONLY = {"bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
                "bitwise_right_shift", "bitwise_not"}
ABOVE_ONE = {"acosh", "arccosh"}
OTHER = {"arctan2", "atan2", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
         "bitwise_right_shift", "copysign", "divide", "eq", "floor_divide", "fmod", "ge",
         "greater", "greater_equal", "gt", "heaviside", "hypot", "le", "less", "less_equal",
         "logical_and", "logical_or", "logical_xor", "lt", "multiply", "ne", "not_equal",
         "pow", "remainder", "subtract", "true_divide", "xlogy"}


def _arguments(name: str, lib: object, make) -> tuple[tuple, dict]:
    idx = make(np.array([2, 0], np.int64))
    if name in OTHER:
        other = np.array([[1, 2, 3, 1]] * 4, np.int64) if name in INTEGER_ONLY else \
            np.linspace(0.3, 0.9, 16).reshape(4, 4)
        return (make(other),), {}
    table = {
        "addcdiv": ((make(np.full((4, 4), 0.5)), make(np.full((4, 4), 2.0))), {"value": 2}),
        "addcmul": ((make(np.full((4, 4), 0.5)), make(np.full((4, 4), 2.0))), {}),
        "addmm": ((make(np.eye(4) * 0.5), make(np.arange(16.0).reshape(4, 4))), {}),
        "clamp_max": ((0.5,), {}), "clamp_min": ((0.5,), {}), "clip": ((0.3, 0.6), {}),
        "cumsum": ((0,), {}), "cumprod": ((1,), {}), "float_power": ((2.0,), {}),
        "index_add": ((0, idx, make(np.ones((2, 4)))), {}),
        "index_copy": ((0, idx, make(np.ones((2, 4)))), {}),
        "index_put": (((idx,), make(np.ones((2, 4)))), {}),
        "lerp": ((make(np.ones((4, 4))), 0.3), {}),
        "masked_fill": ((make(np.eye(4, dtype=bool)), 0.25), {}),
        "polygamma": ((1,), {}),
        "scatter": ((0, make(np.array([[1, 0, 3, 2]])), make(np.full((1, 4), 9.0))), {}),
        "scatter_add": ((0, make(np.array([[1, 0, 3, 2]])), make(np.full((1, 4), 9.0))), {}),
        "scatter_reduce": ((0, make(np.array([[1, 0, 3, 2]])), make(np.full((1, 4), 9.0)),
                            "amax"), {}),
        "tril": ((-1,), {}), "triu": ((1,), {}),
    }
    return table.get(name, ((), {}))


def _input(name: str) -> np.ndarray:
    if name in INTEGER_ONLY:
        return np.arange(16, dtype=np.int64).reshape(4, 4)
    x = np.linspace(0.15, 0.85, 16).reshape(4, 4)
    return x + 1.5 if name in ABOVE_ONE else x


@pytest.mark.parametrize("name", TWINS)
def test_inplace_twin_matches_pytorch(device: str, name: str) -> None:
    x = _input(name)
    zx, tx = zili.tensor(x, device=device), torch.tensor(x)
    zview, tview = zx[1:, :2], tx[1:, :2]
    zargs, zkw = _arguments(name, zili, lambda a: zili.tensor(a, device=device))
    targs, tkw = _arguments(name, torch, torch.tensor)
    got = getattr(zx, f"{name}_")(*zargs, **zkw)
    want = getattr(tx, f"{name}_")(*targs, **tkw)
    assert got is zx and want is tx
    np.testing.assert_allclose(zx.numpy(), tx.numpy(), rtol=1e-8, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(zview.numpy(), tview.numpy(), rtol=1e-8, atol=1e-12,
                               equal_nan=True)
    # no gradient to compare: integer tensors; float_power_ needs a float64 base; logical ops
    # on a float tensor pass PyTorch's gradient through unchanged, which is not a derivative
    # (zili's is zero, as for the comparisons)
    if name in INTEGER_ONLY or name in {"float_power", "logical_and", "logical_or",
                                        "logical_xor", "logical_not"}:
        return
    # through autograd: a non-leaf written in place, gradient to the leaf
    zl = zili.tensor(x, device=device, requires_grad=True)
    tl = torch.tensor(x, requires_grad=True)
    zy, ty = zl * 1.0, tl * 1.0
    getattr(zy, f"{name}_")(*zargs, **zkw)
    getattr(ty, f"{name}_")(*targs, **tkw)
    if not ty.requires_grad:
        return
    g = np.random.default_rng(0).standard_normal((4, 4))
    try:
        ty.backward(torch.tensor(g))
    except (NotImplementedError, RuntimeError) as error:  # acosh_, floor_divide_, heaviside_
        assert "not implemented" in str(error)
        return
    zy.backward(zili.tensor(g, device=device))
    np.testing.assert_allclose(zl.grad.numpy(), tl.grad.numpy(force=True), rtol=1e-8, atol=1e-12,
                               equal_nan=True)


def test_refusals_match_pytorch(device: str) -> None:
    with pytest.raises(RuntimeError, match="can't be cast"):
        torch.tensor([1, 2]).exp_()
    with pytest.raises(DTypeError, match="exp_: result type float32 can't be cast"):
        zili.tensor([1, 2], device=device).exp_()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        torch.ones(2, requires_grad=True).exp_()
    with pytest.raises(RuntimeError, match="leaf"):
        zili.ones(2, device=device, requires_grad=True).exp_()
    y = zili.ones(3, device=device, requires_grad=True) * 2
    w = y * y  # saves y for its backward
    y.sqrt_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.sum().backward()
