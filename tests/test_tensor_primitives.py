"""Every primitive through the Tensor API, forward and backward against PyTorch in float32 and
float64 on random shapes and values, plus a float64 finite-difference check of every
differentiable primitive's backward rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import NP_DTYPE, assert_close, compare, gradcheck, randn, random_shape, zt

import zili

DTYPES = ["float32", "float64"]
SEEDS = [0, 1, 2]


def _broadcast_pair(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two random shapes that broadcast (some axes set to 1, some leading axes dropped)."""
    full = random_shape(rng, int(rng.integers(0, 4)))
    a = tuple(1 if rng.random() < 0.3 else s for s in full)
    b = tuple(1 if rng.random() < 0.3 else s for s in full)
    b = b[int(rng.integers(0, len(b) + 1)):]
    return (a, b) if rng.random() < 0.5 else (b, a)


# --- unary ---------------------------------------------------------------------------------

UNARY = {
    "neg": (lambda x: -x, lambda x: -x, "any"),
    "exp2": (lambda x: x.exp2(), torch.exp2, "any"),
    "log2": (lambda x: x.log2(), torch.log2, "positive"),
    "sin": (lambda x: x.sin(), torch.sin, "any"),
    "sqrt": (lambda x: x.sqrt(), torch.sqrt, "positive"),
    "reciprocal": (lambda x: x.reciprocal(), torch.reciprocal, "away_from_zero"),
    "contiguous_copy": (lambda x: x.clone(), lambda x: x.clone(), "any"),
}


def _domain(values: np.ndarray, kind: str) -> np.ndarray:
    if kind == "positive":
        return np.abs(values) + 0.1
    if kind == "away_from_zero":
        return np.sign(values + 1e-3) * (np.abs(values) + 0.2)
    return values


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_unary(device: str, name: str, dtype: str, seed: int) -> None:
    zfn, tfn, kind = UNARY[name]
    rng = np.random.default_rng(seed)
    x = _domain(randn(rng, random_shape(rng), dtype), kind).astype(NP_DTYPE[dtype])
    compare(zfn, tfn, [x], device, dtype)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradcheck(device: str, name: str) -> None:
    zfn, _, kind = UNARY[name]
    rng = np.random.default_rng(7)
    gradcheck(zfn, [_domain(rng.standard_normal((2, 3)), kind)], device)


# --- binary --------------------------------------------------------------------------------

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "maximum": (lambda a, b: a.maximum(b), torch.maximum),
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_binary(device: str, name: str, dtype: str, seed: int) -> None:
    zfn, tfn = BINARY[name]
    rng = np.random.default_rng(seed)
    sa, sb = _broadcast_pair(rng)
    a, b = randn(rng, sa, dtype), randn(rng, sb, dtype)
    if name == "div":
        b = _domain(b, "away_from_zero").astype(NP_DTYPE[dtype])
    compare(zfn, tfn, [a, b], device, dtype)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradcheck(device: str, name: str) -> None:
    zfn, _ = BINARY[name]
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((1, 3))
    if name == "div":
        b = _domain(b, "away_from_zero")
    gradcheck(zfn, [a, b], device)


def test_maximum_ties_split_gradient(device: str) -> None:
    a = np.array([1.0, 2.0, 3.0, -1.0])
    b = np.array([1.0, 0.0, 3.0, 5.0])
    compare(lambda x, y: x.maximum(y), torch.maximum, [a, b], device)


@pytest.mark.parametrize("seed", SEEDS)
def test_mod_matches_torch_remainder(device: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(-50, 50, size=(4, 5))
    b = rng.integers(1, 9, size=(4, 5)) * rng.choice([-1, 1], size=(4, 5))
    compare(lambda x, y: x % y, torch.remainder, [a, b], device, "int64")
    af, bf = randn(rng, (4, 5)) * 10, _domain(randn(rng, (4, 5)), "away_from_zero")
    compare(lambda x, y: x % y, torch.remainder, [af, bf], device, "float64",
            grad=[False, False])


def test_integer_floor_division_matches_torch(device: str) -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(-50, 50, size=(6,))
    b = rng.integers(1, 7, size=(6,)) * rng.choice([-1, 1], size=(6,))
    compare(lambda x, y: x // y, lambda x, y: torch.div(x, y, rounding_mode="floor"), [a, b],
            device, "int64")


@pytest.mark.parametrize("seed", SEEDS)
def test_comparisons(device: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sa, sb = _broadcast_pair(rng)
    a = rng.integers(-2, 3, size=sa).astype(np.float64)
    b = rng.integers(-2, 3, size=sb).astype(np.float64)
    for zfn, tfn in [(lambda x, y: x < y, torch.lt), (lambda x, y: x == y, torch.eq),
                     (lambda x, y: x > y, torch.gt), (lambda x, y: x <= y, torch.le),
                     (lambda x, y: x >= y, torch.ge), (lambda x, y: x != y, torch.ne)]:
        compare(zfn, tfn, [a, b], device, "float64", grad=[False, False])


@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "uint8"])
def test_bitwise(device: str, dtype: str) -> None:
    rng = np.random.default_rng(11)
    np_dtype = {"bool": np.bool_, "int32": np.int32, "int64": np.int64, "uint8": np.uint8}[dtype]
    a = rng.integers(0, 200, size=(3, 4)).astype(np_dtype)
    b = rng.integers(0, 200, size=(3, 4)).astype(np_dtype)
    for zfn, tfn in [(lambda x, y: x & y, torch.bitwise_and),
                     (lambda x, y: x | y, torch.bitwise_or),
                     (lambda x, y: x ^ y, torch.bitwise_xor),
                     (lambda x, y: ~x, lambda x, y: torch.bitwise_not(x))]:
        compare(zfn, tfn, [a, b], device, dtype)


def test_bitwise_rejects_floats(device: str) -> None:
    x = zt(np.ones(3), device)
    with pytest.raises(TypeError, match="and"):
        _ = x & x


# --- cast ----------------------------------------------------------------------------------

CAST_TARGETS = ["float32", "float64", "float16", "bfloat16", "int32", "int64", "uint8", "bool"]


@pytest.mark.parametrize("target", CAST_TARGETS)
def test_cast_matches_torch(device: str, target: str) -> None:
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(20) * 50).astype(np.float64)
    if target == "uint8":
        x = np.abs(x)  # float -> uint8 of negatives is undefined behaviour in C and PyTorch
    x[:3] = [0.0, 2.5, -2.5] if target != "uint8" else [0.0, 2.5, 3.7]
    compare(lambda t: t.to(getattr(zili, target if target != "bool" else "bool")),
            lambda t: t.to(getattr(torch, target)), [x], device, "float64",
            grad=[target in ("float32", "float64")], rtol=1e-2 if "16" in target else None,
            atol=0 if "16" not in target else 1e-2)


@pytest.mark.parametrize("source", ["float32", "float64"])
def test_cast_backward_to_source_dtype(device: str, source: str) -> None:
    rng = np.random.default_rng(4)
    x = randn(rng, (3, 2), source)
    other = "float64" if source == "float32" else "float32"
    compare(lambda t: t.to(getattr(zili, other)) * 3, lambda t: t.to(getattr(torch, other)) * 3,
            [x], device, "float32")


# --- where ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_where(device: str, dtype: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sa, sb = _broadcast_pair(rng)
    cond = rng.random(sa) < 0.5
    a, b = randn(rng, sb, dtype), randn(rng, sa, dtype)
    # Tensor.where(condition, other) selects self where condition: torch.where(c, x, y)
    compare(lambda c, x, y: x.where(c, y), torch.where, [cond, a, b], device, dtype,
            grad=[False, True, True])
    compare(lambda c, x, y: zili.where(c, x, y), lambda c, x, y: x.where(c, y),
            [cond, a, b], device, dtype, grad=[False, True, True])


def test_where_gradcheck(device: str) -> None:
    cond = zt(np.array([[True, False, True], [False, False, True]]), device)
    rng = np.random.default_rng(1)
    gradcheck(lambda a, b: a.where(cond, b), [rng.standard_normal((2, 3)),
                                              rng.standard_normal((1, 3))], device)


# --- reductions ----------------------------------------------------------------------------

def _random_axes(rng: np.random.Generator, ndim: int) -> tuple[int, ...]:
    return tuple(int(a) for a in np.flatnonzero(rng.random(ndim) < 0.5))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_sum_and_amax(device: str, dtype: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, int(rng.integers(1, 4)))
    axes = _random_axes(rng, len(shape)) or (0,)
    x = randn(rng, shape, dtype)
    for keepdim in (False, True):
        compare(lambda t: t.sum(axes, keepdim=keepdim),  # noqa: B023
                lambda t: t.sum(axes, keepdim=keepdim), [x], device, dtype)  # noqa: B023
        compare(lambda t: t.amax(axes, keepdim=keepdim),  # noqa: B023
                lambda t: t.amax(axes, keepdim=keepdim), [x], device, dtype)  # noqa: B023
    compare(lambda t: t.sum(), lambda t: t.sum(), [x], device, dtype)


def test_amax_ties_share_gradient(device: str) -> None:
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    compare(lambda t: t.amax(1), lambda t: t.amax(1), [x], device)
    compare(lambda t: t.amax(), lambda t: t.amax(), [x], device)


def test_integer_sum_is_int64(device: str) -> None:
    x = np.array([[True, False, True], [True, True, True]])
    compare(lambda t: t.sum(0), lambda t: t.sum(0), [x], device, "int64")
    compare(lambda t: t.sum(), lambda t: t.sum(), [x.astype(np.int32)], device, "int64")


def test_reduction_gradcheck(device: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 2))
    gradcheck(lambda t: t.sum((0, 2), keepdim=True), [x], device)
    gradcheck(lambda t: t.amax(1), [x], device)


# --- movement ------------------------------------------------------------------------------

def _torch_pad(t: torch.Tensor, padding: tuple[tuple[int, int], ...]) -> torch.Tensor:
    flat = [v for pair in reversed(padding) for v in pair]
    return torch.nn.functional.pad(t, flat)


def _movement_cases(rng: np.random.Generator, shape: tuple[int, ...]) -> list:
    order = tuple(int(i) for i in rng.permutation(len(shape)))
    bounds = tuple((int(b), int(b + rng.integers(0, s - b + 1)))
                   for s, b in ((s, rng.integers(0, s)) for s in shape))
    padding = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in shape)
    flips = tuple(int(a) for a in np.flatnonzero(rng.random(len(shape)) < 0.5)) or (0,)
    expanded = tuple(3 if s == 1 else s for s in shape)
    slices = tuple(slice(b, e) for b, e in bounds)
    return [
        ("reshape", lambda t: t.reshape(-1), lambda t: t.reshape(-1)),
        ("permute", lambda t: t.permute(order), lambda t: t.permute(order)),
        ("expand", lambda t: t.expand((2, *expanded)), lambda t: t.expand((2, *expanded))),
        ("shrink", lambda t: t.shrink(bounds), lambda t: t[slices]),
        ("pad", lambda t: t.pad_axes(padding), lambda t: _torch_pad(t, padding)),
        ("flip", lambda t: t.flip(flips), lambda t: t.flip(flips)),
        ("chain", lambda t: t.permute(order).flip(flips).pad_axes(padding).reshape(-1) * 2,
         lambda t: _torch_pad(t.permute(order).flip(flips), padding).reshape(-1) * 2),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_movement(device: str, dtype: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(1 if rng.random() < 0.3 else s for s in random_shape(rng, 3))
    x = randn(rng, shape, dtype)
    for name, zfn, tfn in _movement_cases(rng, shape):
        try:
            compare(zfn, tfn, [x], device, dtype)
        except AssertionError as error:
            raise AssertionError(f"{name} on shape {shape}: {error}") from error


def test_movement_gradcheck(device: str) -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 1, 3))
    for _, zfn, _ in _movement_cases(rng, x.shape):
        gradcheck(zfn, [x], device)


# --- matmul, gather, scatter_add ------------------------------------------------------------

MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                 ((2, 2, 3), (3, 4)), ((2, 1, 2, 3), (3, 3, 2)), ((1, 3), (2, 3, 4))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(device: str, dtype: str, shapes: tuple) -> None:
    rng = np.random.default_rng(len(shapes[0]) * 10 + len(shapes[1]))
    a, b = randn(rng, shapes[0], dtype), randn(rng, shapes[1], dtype)
    compare(lambda x, y: x @ y, torch.matmul, [a, b], device, dtype)


def test_matmul_of_views_and_gradcheck(device: str) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    compare(lambda x, y: x.T @ y.T.flip(0), lambda x, y: x.T @ y.T.flip(0), [a, b], device)
    gradcheck(lambda x, y: x.T @ y.T, [a, b], device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_gather_and_scatter_add(device: str, dtype: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, 3, low=2)
    dim = int(rng.integers(0, 3))
    index_shape = tuple(int(rng.integers(1, s + 1)) if d != dim else int(rng.integers(1, 6))
                        for d, s in enumerate(shape))
    index = rng.integers(0, shape[dim], size=index_shape)
    x = randn(rng, shape, dtype)
    compare(lambda t, i: t.gather(dim, i), lambda t, i: t.gather(dim, i), [x, index], device,
            dtype, grad=[True, False])
    src = randn(rng, index_shape, dtype)
    full = tuple(max(s, i) if d != dim else s for d, (s, i) in enumerate(zip(shape,
                                                                             index_shape)))
    base = randn(rng, full, dtype)
    compare(lambda b, i, s: b.scatter_add(dim, i, s), lambda b, i, s: b.scatter_add(dim, i, s),
            [base, index, src], device, dtype, grad=[True, False, True])


def test_gather_scatter_gradcheck(device: str) -> None:
    rng = np.random.default_rng(2)
    index = zt(np.array([[0, 2, 2], [1, 0, 1]]), device)
    gradcheck(lambda t: t.gather(1, index), [rng.standard_normal((2, 3))], device)
    gradcheck(lambda b, s: b.scatter_add(1, index, s),
              [rng.standard_normal((2, 4)), rng.standard_normal((2, 3))], device)


def test_gather_errors_name_op_and_shapes(device: str) -> None:
    x = zt(np.zeros((2, 3)), device)
    with pytest.raises(ValueError, match=r"gather.*\(3, 3\).*\(2, 3\)"):
        x.gather(1, zt(np.zeros((3, 3), np.int64), device))
    with pytest.raises(TypeError, match="gather.*int64"):  # int32 is accepted, as PyTorch
        x.gather(1, zt(np.zeros((2, 3), np.float32), device))


# --- random --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_random_values_in_unit_interval(device: str, dtype: str) -> None:
    zili.manual_seed(123)
    u = zili.rand(1000, dtype=getattr(zili, dtype), device=device).numpy()
    assert u.dtype == NP_DTYPE[dtype]
    assert u.min() >= 0.0 and u.max() < 1.0
    assert len(np.unique(u)) > 990  # distinct draws, not a repeated counter


def test_primitives_keep_float32_precision(device: str) -> None:
    """float32 in stays float32 out for every float primitive (no silent float64 upcast)."""
    x = zt(np.array([0.5, 1.5], np.float32), device)
    for out in (x.exp2(), x.log2(), x.sin(), x.sqrt(), x.reciprocal(), x + x, x * x, x / x,
                x.maximum(x), x.sum(), x.amax(), x.reshape(2, 1) @ x.reshape(1, 2)):
        assert out.dtype is zili.float32
        assert out.numpy().dtype == np.float32
    assert_close(x.exp2(), torch.exp2(torch.tensor([0.5, 1.5])), "float32")
