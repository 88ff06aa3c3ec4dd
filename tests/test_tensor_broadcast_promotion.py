"""Broadcasting and dtype promotion of binary operations against PyTorch, and the error
messages for shapes and dtypes that do not fit (they must name the op and the shapes)."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import TORCH_DTYPE, compare, zt

import zili
from zili import dtype as dtypes
from zili.errors import DTypeError

NAMES = [d.name for d in dtypes.ALL_DTYPES]
SCALARS = [True, 3, -2.5]


def _ztensor(name: str, shape: tuple[int, ...], device: str) -> zili.Tensor:
    return zili.ones(shape, dtype=getattr(dtypes, name if name != "bool" else "bool_"),
                     device=device)


def _ttensor(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.ones(shape, dtype=TORCH_DTYPE[name])


def _same_outcome(zfn: Callable[..., Any], tfn: Callable[..., Any], zargs: tuple,
                  targs: tuple) -> tuple[Any, Any] | None:
    """Both results, or None when both raise (PyTorch refuses most work on uint16/32/64 and
    their promotion with other integers; zili must refuse the same, with a DTypeError)."""
    try:
        expected = tfn(*targs)
    except (RuntimeError, NotImplementedError):
        with pytest.raises(DTypeError):
            zfn(*zargs)
        return None
    return zfn(*zargs), expected


def test_promote_types_matches_torch() -> None:
    for a, b in itertools.product(NAMES, NAMES):
        both = _same_outcome(dtypes.promote_types, torch.promote_types,
                             (dtypes.to_dtype(a), dtypes.to_dtype(b)),
                             (TORCH_DTYPE[a], TORCH_DTYPE[b]))
        assert both is None or both[0].name == str(both[1])[6:], (a, b)


@pytest.mark.parametrize("a", NAMES)
def test_result_type_tiers_match_torch(device: str, a: str) -> None:
    """Dimensioned tensors, 0-d tensors and Python scalars, each against every dtype."""
    for b in NAMES:
        for za, ta, zb, tb in [
            (_ztensor(a, (2,), device), _ttensor(a, (2,)), _ztensor(b, (), device),
             _ttensor(b, ())),
            (_ztensor(a, (), device), _ttensor(a, ()), _ztensor(b, (), device), _ttensor(b, ())),
        ]:
            both = _same_outcome(dtypes.result_type, torch.result_type, (za, zb), (ta, tb))
            assert both is None or both[0].name == str(both[1])[6:], \
                (a, b, za.shape, zb.shape)
    for scalar in SCALARS:
        for shape in ((2,), ()):
            expected = str(torch.result_type(_ttensor(a, shape), scalar))[6:]
            got = \
                dtypes.result_type(_ztensor(a, shape, device), scalar)
            assert got.name == expected, (a, shape, scalar)


@pytest.mark.parametrize("a", NAMES)
def test_binary_op_result_dtype_and_values(device: str, a: str) -> None:
    """x * y, x + y, y < x on every dtype pair: the result dtype and values equal PyTorch's
    (or both refuse, as for uint32 + int32)."""
    rng = np.random.default_rng(0)
    base_a = rng.integers(0, 4, size=(2, 3))
    base_b = rng.integers(0, 4, size=(3,))
    za = zt(base_a, device).to(a)
    ta = torch.tensor(base_a).to(TORCH_DTYPE[a])
    for b in NAMES:
        zb = zt(base_b, device).to(b)
        tb = torch.tensor(base_b).to(TORCH_DTYPE[b])
        for fn in (operator.mul, operator.add, lambda x, y: y < x):
            both = _same_outcome(fn, fn, (za, zb), (ta, tb))
            if both is None:
                continue
            zout, tout = both
            assert zout.dtype.name == str(tout.dtype)[6:], (a, b)
            np.testing.assert_array_equal(zout.numpy().astype(np.float64),
                                          tout.to(torch.float64).numpy())


@pytest.mark.parametrize("name", NAMES)
def test_python_scalar_operands_match_torch(device: str, name: str) -> None:
    base = np.array([[1, 2, 3], [0, 1, 2]])
    z, t = zt(base, device).to(name), torch.tensor(base).to(TORCH_DTYPE[name])
    for scalar in ([2, 2.5] if name != "bool" else [True, 2, 2.5]):
        for fn in (operator.mul, lambda x, s: s + x, operator.truediv):
            both = _same_outcome(fn, fn, (z, scalar), (t, scalar))
            if both is None:
                continue
            zout, tout = both
            assert zout.dtype.name == str(tout.dtype)[6:], (name, scalar)
            np.testing.assert_allclose(zout.numpy().astype(np.float64),
                                       tout.to(torch.float64).numpy(), rtol=1e-2)


def test_true_division_of_integers_gives_default_float(device: str) -> None:
    compare(lambda a, b: a / b, lambda a, b: a / b, [np.array([7, -7, 3]), np.array([2, 2, 3])],
            device, "float32")


# --- broadcasting --------------------------------------------------------------------------

BROADCASTING = [((), (3,)), ((3,), ()), ((2, 1), (1, 3)), ((4, 1, 5), (3, 1)),
                ((1,), (2, 3, 4)), ((2, 3, 1, 1), (1, 1, 4, 5)), ((5, 1, 1), (5, 2, 1)),
                ((0, 3), (1, 3)), ((2, 0), (1,))]


@pytest.mark.parametrize("sa,sb", BROADCASTING, ids=str)
def test_broadcast_forward_backward(device: str, sa: tuple, sb: tuple) -> None:
    rng = np.random.default_rng(len(sa) + 3 * len(sb))
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    assert zili.broadcast_shape(sa, sb) == tuple(torch.broadcast_shapes(sa, sb))
    compare(lambda x, y: x * y + x, lambda x, y: x * y + x, [a, b], device)
    compare(lambda x, y: x.maximum(y) - y, lambda x, y: torch.maximum(x, y) - y, [a, b], device)


@pytest.mark.parametrize("sa,sb", [((2, 3), (3, 2)), ((4,), (5,)), ((2, 3, 4), (3, 1, 5))])
def test_broadcast_error_names_op_and_shapes(device: str, sa: tuple, sb: tuple) -> None:
    a, b = zt(np.zeros(sa), device), zt(np.zeros(sb), device)
    with pytest.raises(ValueError, match=r"add: shapes .*do not broadcast"):
        a + b
    with pytest.raises(ValueError, match=rf"{sa}.*{sb}".replace("(", r"\(").replace(")", r"\)")):
        a * b
    with pytest.raises(ValueError, match=r"where"):
        a.where(a > 0, b)
    with pytest.raises(RuntimeError, match="must match"):
        torch.zeros(sa) + torch.zeros(sb)  # the oracle agrees these do not broadcast


def test_shape_errors_name_op_shapes_and_remedy(device: str) -> None:
    x = zt(np.zeros((2, 3)), device)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\)"):
        x @ x
    with pytest.raises(ValueError, match=r"reshape: shape \(4, 2\).*\(2, 3\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"expand.*\(2, 3\).*\(4, 3\)"):
        x.expand(4, 3)
    with pytest.raises(ValueError, match=r"cat: shapes \[\(2, 3\), \(3, 2\)\]"):
        zili.cat([x, x.T])
    with pytest.raises(ValueError, match=r"stack.*one shape"):
        zili.stack([x, x.T])
    with pytest.raises(IndexError, match=r"dimension 2 is out of range.*\(2, 3\)"):
        x.sum(2)
    with pytest.raises(ValueError, match="permute"):
        x.permute(0, 0)


def test_dtype_errors_name_op_and_dtype(device: str) -> None:
    f, i = zt(np.ones(3), device), zt(np.ones(3, np.int64), device)
    with pytest.raises(TypeError, match=r"and: .*float64"):
        f & f
    with pytest.raises(TypeError, match=r"mean: .*int64.*float"):
        i.mean()
    with pytest.raises(TypeError, match=r"where: the condition must be bool, got int64"):
        f.where(i, f)
    with pytest.raises(TypeError, match=r"masked_fill: mask must be bool"):
        f.masked_fill(i, 0.0)
    with pytest.raises(RuntimeError, match=r"requires_grad_.*int64"):
        i.requires_grad_()
    with pytest.raises(TypeError, match="unsupported operand"):
        f + "a"
    with pytest.raises(TypeError, match="unknown dtype"):
        zili.tensor([1.0], dtype="float128", device=device)
