"""Sorting and selection, scattering and einsum against PyTorch: random shapes and values
(hypothesis), ties and NaN, forward and backward, on every device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
from tests.helpers import compare, zt

SETTINGS = settings(max_examples=6, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(shape=st.sampled_from([(1,), (7,), (3, 5), (2, 4, 3)]), seed=st.integers(0, 999),
       descending=st.booleans())
def test_sort_matches_pytorch_with_ties_and_nan(device, shape, seed, descending):
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(shape) * 2) / 2  # many ties: stability matters
    x.reshape(-1)[0] = np.nan
    for dim in range(-1, len(shape) - 1):
        zv, zi = zt(x, device).sort(dim, descending=descending)
        tv, ti = torch.tensor(x).sort(dim=dim, descending=descending, stable=True)
        np.testing.assert_array_equal(zi.numpy(), ti.numpy())
        np.testing.assert_array_equal(zv.numpy(), tv.numpy())
        np.testing.assert_array_equal(zt(x, device).argsort(dim, descending).numpy(),
                                      torch.tensor(x).argsort(dim=dim, descending=descending,
                                                              stable=True).numpy())
    distinct = rng.permutation(np.prod(shape)).reshape(shape) + rng.uniform(0, 0.5, shape)
    compare(lambda a: a.sort(-1, descending=descending).values,
            lambda a: a.sort(-1, descending=descending).values, [distinct], device)


def test_topk_kthvalue_median_match_pytorch(device):
    rng = np.random.default_rng(1)
    x = rng.permutation(35).reshape(5, 7) + rng.uniform(0, 0.5, (5, 7))
    for largest in (True, False):
        compare(lambda a, lg=largest: a.topk(3, 1, largest=lg).values,
                lambda a, lg=largest: a.topk(3, 1, largest=lg).values, [x], device)
        np.testing.assert_array_equal(zt(x, device).topk(3, 0, largest).indices.numpy(),
                                      torch.tensor(x).topk(3, 0, largest).indices.numpy())
    compare(lambda a: a.kthvalue(2, 0).values, lambda a: a.kthvalue(2, 0).values, [x], device)
    np.testing.assert_array_equal(zt(x, device).kthvalue(4, 1, True).indices.numpy(),
                                  torch.tensor(x).kthvalue(4, 1, True).indices.numpy())
    compare(lambda a: a.median(1).values, lambda a: a.median(1).values, [x], device)
    compare(lambda a: a.median(), lambda a: a.median(), [x[:, :6]], device)
    np.testing.assert_array_equal(zt(x, device).median(0).indices.numpy(),
                                  torch.tensor(x).median(0).indices.numpy())
    compare(lambda a: a.msort(), lambda a: a.msort(), [x], device)


def test_unique_nonzero_masked_select(device):
    x = np.array([[3, 1, 3], [2, 0, 1]], np.int64)
    for z, t in zip(zt(x, device).unique(return_inverse=True, return_counts=True),
                    torch.from_numpy(x).unique(return_inverse=True, return_counts=True)):
        np.testing.assert_array_equal(z.numpy(), t.numpy())
    np.testing.assert_array_equal(zt(x, device).nonzero().numpy(),
                                  torch.from_numpy(x).nonzero().numpy())
    for z, t in zip(zt(x, device).nonzero(as_tuple=True), torch.from_numpy(x).nonzero(
            as_tuple=True)):
        np.testing.assert_array_equal(z.numpy(), t.numpy())
    v = np.random.default_rng(2).standard_normal((2, 3))
    mask = np.array([True, False, True])
    compare(lambda a: a.masked_select(zt(mask, device)),
            lambda a: a.masked_select(torch.from_numpy(mask)), [v], device)


def test_scatter_family_matches_pytorch(device):
    rng = np.random.default_rng(3)
    base, src = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    index = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])
    zi, ti = zt(index, device), torch.from_numpy(index)
    compare(lambda b, s: b.scatter(0, zi, s), lambda b, s: b.scatter(0, ti, s), [base, src],
            device)
    compare(lambda b: b.scatter(1, zi[:, :2] % 3, value=2.5),
            lambda b: b.scatter(1, ti[:, :2] % 3, value=2.5), [base], device)
    for reduce in ("sum", "mean"):
        for include in (True, False):
            compare(lambda b, s, r=reduce, inc=include: b.scatter_reduce(
                        0, zi, s, r, include_self=inc),
                    lambda b, s, r=reduce, inc=include: b.scatter_reduce(
                        0, ti, s, r, include_self=inc), [base, src], device)
    rows = np.array([2, 0])
    compare(lambda b, s: b.index_add(0, zt(rows, device), s, alpha=2),
            lambda b, s: b.index_add(0, torch.from_numpy(rows), s, alpha=2), [base, src],
            device)
    compare(lambda b, s: b.index_copy(0, zt(rows, device), s),
            lambda b, s: b.index_copy(0, torch.from_numpy(rows), s), [base, src], device)
    picks = (np.array([0, 2, 2]), np.array([1, 3, 3]))
    compare(lambda b: b.index_put(tuple(zt(p, device) for p in picks), zt(np.array(5.0),
                                                                         device), True),
            lambda b: b.index_put(tuple(torch.from_numpy(p) for p in picks),
                                  torch.tensor(5.0, dtype=torch.float64), True), [base], device)
    compare(lambda b: b.take_along_dim(zi[:, :1], 0),
            lambda b: torch.take_along_dim(b, ti[:, :1], 0), [base], device)


@pytest.mark.parametrize("equation,shapes", [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ij,ij->", [(3, 4), (3, 4)]),
    ("i,j->ij", [(3,), (4,)]), ("...ij,...jk", [(2, 3, 4), (4, 2)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]), ("ijk->kj", [(2, 3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)])])
def test_einsum_matches_pytorch(device, equation, shapes):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s) for s in shapes]
    compare(lambda *a: zili.einsum(equation, *a), lambda *a: torch.einsum(equation, *a),
            arrays, device)


@pytest.mark.parametrize("n", [1, 2, 3, 31, 64, 257, 3000])
def test_sort_network_is_stable_on_long_rows_with_many_ties(device, n):
    rng = np.random.default_rng(n)
    x = rng.integers(0, max(2, n // 8), (2, n)).astype(np.float64)  # many ties
    x[1, ::7] = np.nan
    for descending in (False, True):
        zv, zi = zt(x, device).sort(-1, descending=descending)
        tv, ti = torch.tensor(x).sort(dim=-1, descending=descending, stable=True)
        np.testing.assert_array_equal(zi.numpy(), ti.numpy())
        np.testing.assert_array_equal(zv.numpy(), tv.numpy())
    compare(lambda a: a.sort(-1).values * 1.0, lambda a: a.sort(dim=-1, stable=True).values,
            [rng.standard_normal((2, n))], device)


@pytest.mark.parametrize("equation, shapes", [
    ("ii->i", [(4, 4)]), ("ii", [(5, 5)]), ("iij->j", [(3, 3, 5)]), ("iij->ij", [(3, 3, 2)]),
    ("iii->i", [(2, 2, 2)]), ("ii,ij->j", [(4, 4), (4, 3)]), ("...ii->...i", [(2, 3, 3)]),
    ("bii,bj->bij", [(2, 3, 3), (2, 4)])])
def test_einsum_repeated_letter_takes_the_diagonal_as_pytorch(device, equation, shapes):
    rng = np.random.default_rng(len(equation))
    arrays = [rng.standard_normal(s) for s in shapes]
    compare(lambda *x: zili.einsum(equation, *x), lambda *x: torch.einsum(equation, *x),
            arrays, device)
    compare(lambda *x: zili.einsum(equation, *(t.mT for t in x)),  # non-contiguous operands
            lambda *x: torch.einsum(equation, *(t.mT for t in x)),
            [np.swapaxes(a, -1, -2).copy() for a in arrays], device)


@SETTINGS
@given(seed=st.integers(0, 10**6), size=st.integers(1, 9))
def test_mode_matches_pytorch_values_indices_and_gradient(device, seed, size):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, (3, size, 2)).astype(np.float64)  # many ties
    for dim in range(3):
        for keepdim in (False, True):
            zv, zi = zt(x, device).mode(dim, keepdim)
            tv, ti = torch.tensor(x).mode(dim, keepdim)
            np.testing.assert_array_equal(zi.numpy(), ti.numpy())
            np.testing.assert_array_equal(zv.numpy(), tv.numpy())
    compare(lambda a: a.mode(1).values, lambda a: a.mode(1).values, [x], device)
    compare(lambda a: a.mode(0).values, lambda a: a.mode(0).values, [x[0, 0, 0]], device)


@SETTINGS
@given(seed=st.integers(0, 10**6))
def test_unique_consecutive_matches_pytorch(device, seed):
    x = np.random.default_rng(seed).integers(0, 2, (3, 4, 2))
    for dim in (None, 0, 1, 2):
        got = zt(x, device).unique_consecutive(True, True, dim)
        want = torch.from_numpy(x).unique_consecutive(return_inverse=True, return_counts=True,
                                                      dim=dim)
        for z, t in zip(got, want):
            np.testing.assert_array_equal(z.numpy(), t.numpy())
    np.testing.assert_array_equal(zt(x, device).unique_consecutive().numpy(),
                                  torch.from_numpy(x).unique_consecutive().numpy())


@SETTINGS
@given(seed=st.integers(0, 10**6))
def test_unique_along_dim_matches_pytorch(device, seed):
    x = np.random.default_rng(seed).integers(0, 2, (3, 4, 2))
    for dim in (0, 1, 2, -1):
        got = zt(x, device).unique(True, True, True, dim)
        want = torch.from_numpy(x).unique(sorted=True, return_inverse=True,
                                          return_counts=True, dim=dim)
        for z, t in zip(got, want):
            np.testing.assert_array_equal(z.numpy(), t.numpy())
