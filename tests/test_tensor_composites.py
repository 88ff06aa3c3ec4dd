"""Composite operations (built from primitives in the tensor layer) forward and backward
against PyTorch, in float32 and float64 on random shapes and values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import compare, gradcheck, randn, random_shape, zt

import zili

DTYPES = ["float32", "float64"]
SEEDS = [0, 1]


def _shape_and_dim(rng: np.random.Generator) -> tuple[tuple[int, ...], int]:
    shape = random_shape(rng, int(rng.integers(1, 4)))
    return shape, int(rng.integers(-len(shape), len(shape)))


ELEMENTWISE = {
    "exp": (lambda x: x.exp(), torch.exp, "any"),
    "log": (lambda x: x.log(), torch.log, "positive"),
    "cos": (lambda x: x.cos(), torch.cos, "any"),
    "rsqrt": (lambda x: x.rsqrt(), torch.rsqrt, "positive"),
    "square": (lambda x: x.square(), torch.square, "any"),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid, "any"),
    "tanh": (lambda x: x.tanh(), torch.tanh, "any"),
    "relu": (lambda x: x.relu(), torch.relu, "any"),
    "abs": (lambda x: x.abs(), torch.abs, "any"),
    "sign": (lambda x: x.sign(), torch.sign, "any"),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), "any"),
    "clamp_min": (lambda x: x.clamp(min=0.1), lambda x: x.clamp(min=0.1), "any"),
    "clamp_max": (lambda x: x.clamp(max=0.1), lambda x: x.clamp(max=0.1), "any"),
    "pow0": (lambda x: x ** 0, lambda x: x ** 0, "any"),
    "pow1": (lambda x: x ** 1, lambda x: x ** 1, "any"),
    "pow2": (lambda x: x ** 2, lambda x: x ** 2, "any"),
    "pow3": (lambda x: x ** 3, lambda x: x ** 3, "any"),
    "pow-1": (lambda x: x ** -1, lambda x: x ** -1, "positive"),
    "pow0.5": (lambda x: x ** 0.5, lambda x: x ** 0.5, "positive"),
    "pow-0.5": (lambda x: x ** -0.5, lambda x: x ** -0.5, "positive"),
    "pow2.5": (lambda x: x.pow(2.5), lambda x: x.pow(2.5), "positive"),
    "pow-3_negative_base": (lambda x: x.pow(-3), lambda x: x.pow(-3), "any"),
    "pow4_negative_base": (lambda x: x.pow(4), lambda x: x.pow(4), "any"),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, "any"),
    "lerp": (lambda x: x.lerp(x * 3, 0.25), lambda x: x.lerp(x * 3, 0.25), "any"),
    "scalar_ops": (lambda x: (3 - x) / 2 + 1.5 * x - x / 0.5,
                   lambda x: (3 - x) / 2 + 1.5 * x - x / 0.5, "any"),
}


def _domain(x: np.ndarray, kind: str) -> np.ndarray:
    return (np.abs(x) + 0.2).astype(x.dtype) if kind == "positive" else x


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_elementwise_composites(device: str, name: str, dtype: str, seed: int) -> None:
    zfn, tfn, kind = ELEMENTWISE[name]
    rng = np.random.default_rng(seed)
    x = _domain(randn(rng, random_shape(rng), dtype) * 1.5, kind)
    compare(zfn, tfn, [x], device, dtype, rtol=1e-3 if dtype == "float32" else 1e-7)


def test_fractional_power_of_negative_is_nan(device: str) -> None:
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    compare(lambda t: t.pow(1.5), lambda t: t.pow(1.5), [x], device, grad=[False])


def test_tensor_exponent(device: str) -> None:
    rng = np.random.default_rng(3)
    base = np.abs(rng.standard_normal((3, 4))) + 0.3
    exponent = rng.standard_normal((3, 4))
    compare(lambda a, b: a ** b, lambda a, b: a ** b, [base, exponent], device)
    signed = np.array([-2.0, -2.0, -2.0, 3.0])
    whole = np.array([2.0, 3.0, 0.5, 0.5])
    compare(lambda a, b: a ** b, lambda a, b: a ** b, [signed, whole], device,
            grad=[False, False])


def test_relu_and_abs_gradient_at_zero(device: str) -> None:
    x = np.array([-1.0, 0.0, 2.0])
    compare(lambda t: t.relu(), torch.relu, [x], device)
    compare(lambda t: t.abs(), torch.abs, [x], device)


def test_clamp_with_tensor_bounds(device: str) -> None:
    rng = np.random.default_rng(4)
    x, lo, hi = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) - 1, \
        rng.standard_normal((1, 4)) + 1
    compare(lambda a, b, c: a.clamp(b, c), lambda a, b, c: a.clamp(b, c), [x, lo, hi], device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_minimum_maximum(device: str, dtype: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = randn(rng, (3, 4), dtype), randn(rng, (4,), dtype)
    b[0] = a[0, 0]  # a tie: both frameworks split the gradient
    compare(lambda x, y: x.minimum(y), torch.minimum, [a, b], device, dtype)
    compare(lambda x, y: x.maximum(y), torch.maximum, [a, b], device, dtype)
    compare(lambda x, y: x.max(y), lambda x, y: x.max(y), [a, b], device, dtype)
    compare(lambda x, y: x.min(y), lambda x, y: x.min(y), [a, b], device, dtype)


# --- reductions and the softmax family -------------------------------------------------------

REDUCTIONS = {
    "softmax": (lambda x, d: x.softmax(d), lambda x, d: x.softmax(d)),
    "log_softmax": (lambda x, d: x.log_softmax(d), lambda x, d: x.log_softmax(d)),
    "logsumexp": (lambda x, d: x.logsumexp(d), lambda x, d: x.logsumexp(d)),
    "logsumexp_keep": (lambda x, d: x.logsumexp(d, keepdim=True),
                       lambda x, d: x.logsumexp(d, keepdim=True)),
    "mean": (lambda x, d: x.mean(d), lambda x, d: x.mean(d)),
    "mean_all": (lambda x, d: x.mean(), lambda x, d: x.mean()),
    "mean_keep": (lambda x, d: x.mean(d, keepdim=True), lambda x, d: x.mean(d, keepdim=True)),
    "var": (lambda x, d: x.var(d), lambda x, d: x.var(d)),
    "var_biased": (lambda x, d: x.var(d, correction=0), lambda x, d: x.var(d, correction=0)),
    "var_unbiased_false": (lambda x, d: x.var(d, unbiased=False),
                           lambda x, d: x.var(d, unbiased=False)),
    "var_all": (lambda x, d: x.var(), lambda x, d: x.var()),
    "std": (lambda x, d: x.std(d), lambda x, d: x.std(d)),
    "std_keep": (lambda x, d: x.std(d, keepdim=True), lambda x, d: x.std(d, keepdim=True)),
    "amin": (lambda x, d: x.amin(d), lambda x, d: x.amin(d)),
    "max_dim_values": (lambda x, d: x.max(d).values, lambda x, d: x.max(d).values),
    "min_dim_values": (lambda x, d: x.min(d, keepdim=True).values,
                       lambda x, d: x.min(d, keepdim=True).values),
    "max_all": (lambda x, d: x.max(), lambda x, d: x.max()),
    "min_all": (lambda x, d: x.min(), lambda x, d: x.min()),
    "sum_multi": (lambda x, d: x.sum((0, -1)), lambda x, d: x.sum((0, -1))),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_reductions(device: str, name: str, dtype: str, seed: int) -> None:
    zfn, tfn = REDUCTIONS[name]
    rng = np.random.default_rng(seed)
    shape, dim = _shape_and_dim(rng)
    if name.startswith(("var", "std")):
        shape = tuple(max(s, 2) for s in shape)  # one sample has no unbiased variance
    x = randn(rng, shape, dtype) * 3
    compare(lambda t: zfn(t, dim), lambda t: tfn(t, dim), [x], device, dtype,
            rtol=1e-3 if dtype == "float32" else 1e-7)


def test_softmax_family_is_stable_for_large_inputs(device: str) -> None:
    x = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1e4, -999.0]])
    for name in ("softmax", "log_softmax", "logsumexp"):
        zfn, tfn = REDUCTIONS[name]
        compare(lambda t: zfn(t, 1), lambda t: tfn(t, 1), [x], device)  # noqa: B023


def test_logsumexp_all_negative_infinity_row(device: str) -> None:
    x = np.array([[-np.inf, -np.inf], [0.0, 1.0]])
    compare(lambda t: t.logsumexp(1), lambda t: t.logsumexp(1), [x], device, grad=[False])


def test_composite_gradcheck(device: str) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3))
    for fn in (lambda t: t.softmax(1), lambda t: t.log_softmax(0), lambda t: t.logsumexp(1),
               lambda t: t.var(1), lambda t: t.std(0), lambda t: t.tanh(), lambda t: t.sigmoid(),
               lambda t: t.cos(), lambda t: t.exp(), lambda t: (t.abs() + 0.5).log()):
        gradcheck(fn, [x], device)


@pytest.mark.parametrize("seed", SEEDS)
def test_argmax_argmin(device: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape, dim = _shape_and_dim(rng)
    x = rng.integers(-3, 4, size=shape).astype(np.float64)  # many ties: the first index wins
    for keepdim in (False, True):
        compare(lambda t: t.argmax(dim, keepdim=keepdim),  # noqa: B023
                lambda t: t.argmax(dim, keepdim=keepdim), [x], device, grad=[False])  # noqa: B023
        compare(lambda t: t.argmin(dim, keepdim=keepdim),  # noqa: B023
                lambda t: t.argmin(dim, keepdim=keepdim), [x], device, grad=[False])  # noqa: B023
        compare(lambda t: t.max(dim, keepdim=keepdim).indices,  # noqa: B023
                lambda t: t.max(dim, keepdim=keepdim).indices,  # noqa: B023
                [x], device, grad=[False])
    compare(lambda t: t.argmax(), lambda t: t.argmax(), [x], device, grad=[False])


def test_any_all(device: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.random((3, 4, 2)) < 0.3
    x[0] = False
    x[1] = True
    for dim in (None, 0, 1, (1, 2)):
        zarg = () if dim is None else (dim,)
        for name in ("any", "all"):
            compare(lambda t: getattr(t, name)(*zarg),  # noqa: B023
                    lambda t: getattr(t, name)(*zarg), [x], device, "bool")  # noqa: B023


# --- joining and splitting -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_cat_and_stack(device: str, dtype: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape, dim = _shape_and_dim(rng)
    pieces = []
    for _ in range(3):
        s = list(shape)
        s[dim] = int(rng.integers(1, 4))
        pieces.append(randn(rng, tuple(s), dtype))
    compare(lambda *t: zili.cat(t, dim), lambda *t: torch.cat(t, dim), pieces, device, dtype)
    same = [randn(rng, shape, dtype) for _ in range(3)]
    sdim = int(rng.integers(-len(shape) - 1, len(shape) + 1))
    compare(lambda *t: zili.stack(t, sdim), lambda *t: torch.stack(t, sdim), same, device, dtype)


@pytest.mark.parametrize("seed", SEEDS)
def test_split_chunk_unbind(device: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = randn(rng, (7, 5, 3))

    def joined(parts: list, dim: int, z: bool) -> object:
        # Join the pieces back with different weights so a wrong piece shows in the gradient.
        return (zili if z else torch).cat([p * (i + 1) for i, p in enumerate(parts)], dim)

    for dim, size in ((0, 3), (1, [1, 3, 1]), (-1, 2)):
        compare(lambda t: joined(t.split(size, dim), dim, True),  # noqa: B023
                lambda t: joined(list(t.split(size, dim)), dim, False),  # noqa: B023
                [x], device)
    for dim, chunks in ((0, 3), (1, 2), (2, 3), (0, 7)):
        zparts, tparts = zt(x, device).chunk(chunks, dim), torch.tensor(x).chunk(chunks, dim)
        assert [p.shape for p in zparts] == [tuple(p.shape) for p in tparts]
        for zp, tp in zip(zparts, tparts):
            np.testing.assert_array_equal(zp.numpy(), tp.numpy())
    compare(lambda t: zili.stack([p * (i + 1) for i, p in enumerate(t.unbind(1))], 0),
            lambda t: torch.stack([p * (i + 1) for i, p in enumerate(t.unbind(1))], 0),
            [x], device)


def test_split_sizes_must_add_up(device: str) -> None:
    with pytest.raises(ValueError, match=r"split.*\[2, 2\].*5"):
        zt(np.zeros((5, 2)), device).split([2, 2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_shape_helpers(device: str, dtype: str) -> None:
    rng = np.random.default_rng(8)
    x = randn(rng, (2, 1, 3, 4), dtype)
    cases = [
        (lambda t: t.transpose(0, 2), lambda t: t.transpose(0, 2)),
        (lambda t: t.squeeze(), lambda t: t.squeeze()),
        (lambda t: t.squeeze(1), lambda t: t.squeeze(1)),
        (lambda t: t.unsqueeze(-1), lambda t: t.unsqueeze(-1)),
        (lambda t: t.flatten(1), lambda t: t.flatten(1)),
        (lambda t: t.flatten(), lambda t: t.flatten()),
        (lambda t: t.unflatten(3, (2, 2)), lambda t: t.unflatten(3, (2, 2))),
        (lambda t: t.narrow(2, 1, 2), lambda t: t.narrow(2, 1, 2)),
        (lambda t: t.repeat(2, 1, 3, 1, 2), lambda t: t.repeat(2, 1, 3, 1, 2)),
        (lambda t: t.mT @ t, lambda t: t.mT @ t),
        (lambda t: t.reshape(6, 4).t(), lambda t: t.reshape(6, 4).t()),
        (lambda t: t.expand(3, 2, 5, 3, 4), lambda t: t.expand(3, 2, 5, 3, 4)),
        (lambda t: t.expand(-1, 2, -1, -1), lambda t: t.expand(-1, 2, -1, -1)),
        (lambda t: t.T.contiguous().view(-1), lambda t: t.permute(3, 2, 1, 0).contiguous()
         .view(-1)),
        (lambda t: zili.tril(t.reshape(6, 4), -1), lambda t: torch.tril(t.reshape(6, 4), -1)),
        (lambda t: zili.triu(t, 1), lambda t: torch.triu(t, 1)),
        (lambda t: t.masked_fill(t > 0, -2.0), lambda t: t.masked_fill(t > 0, -2.0)),
        (lambda t: t.reshape(-1)[:4].dot(t.reshape(-1)[4:8]),
         lambda t: t.reshape(-1)[:4].dot(t.reshape(-1)[4:8])),
    ]
    for zfn, tfn in cases:
        compare(zfn, tfn, [x], device, dtype)


def test_nan_and_inf_predicates(device: str) -> None:
    x = np.array([1.0, np.nan, np.inf, -np.inf, 0.0])
    for name in ("isnan", "isinf", "isfinite"):
        compare(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(),  # noqa: B023
                [x], device, "bool", grad=[False])
