"""Embeddings with PyTorch's every option, against PyTorch on every device: max_norm and
norm_type (rows renormalized in place in the weight), scale_grad_by_freq, sparse (a dense
gradient here, said once), padding_idx with them, embedding_bag's argument order, and the
nn.Embedding / nn.EmbeddingBag modules with _weight, _freeze and from_pretrained."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
import zili.nn.functional as F


@pytest.mark.parametrize("name", ["embedding", "embedding_bag"])
def test_functional_signatures_are_pytorchs(name: str) -> None:
    ours = inspect.signature(getattr(F, name)).parameters
    theirs = inspect.signature(getattr(TF, name)).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


@pytest.mark.parametrize("name", ["Embedding", "EmbeddingBag"])
def test_module_signatures_are_pytorchs(name: str) -> None:
    ours = inspect.signature(getattr(zili.nn, name)).parameters
    theirs = inspect.signature(getattr(torch.nn, name)).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(2, 9), dim=st.integers(1, 5), ids=st.lists(st.integers(0, 8), min_size=1,
       max_size=12), max_norm=st.sampled_from([None, 0.5, 2.0]),
       norm_type=st.sampled_from([1.0, 2.0, 3.0]), by_freq=st.booleans(),
       padding=st.sampled_from([None, 0]), seed=st.integers(0, 2**31))
def test_embedding_options_match_pytorch(device: str, rows: int, dim: int, ids: list[int],
                                         max_norm: float | None, norm_type: float,
                                         by_freq: bool, padding: int | None,
                                         seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, dim)) * 2
    index = np.array([i % rows for i in ids], np.int64).reshape(1, -1)
    zw = zili.tensor(w, device=device, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    options = dict(padding_idx=padding, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=by_freq)
    got = F.embedding(zili.tensor(index, device=device), zw, **options)
    want = TF.embedding(torch.tensor(index), tw, **options)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    # max_norm wrote the renormalized rows into the weight itself
    np.testing.assert_allclose(zw.detach().numpy(), tw.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    g = rng.standard_normal(want.shape)
    got.backward(zili.tensor(g, device=device))
    want.backward(torch.tensor(g))
    np.testing.assert_allclose(zw.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_max_norm_and_positional_order_match_pytorch(device: str,
                                                                   mode: str) -> None:
    rng = np.random.default_rng(5)
    w = rng.standard_normal((7, 3)) * 3
    flat = np.array([1, 2, 2, 6, 0, 3], np.int64)
    offsets = np.array([0, 2, 5], np.int64)
    zw, tw = zili.tensor(w, device=device, requires_grad=True), torch.tensor(w,
                                                                            requires_grad=True)
    # positionally, as PyTorch orders them: offsets, max_norm, norm_type, scale_grad_by_freq,
    # mode
    got = F.embedding_bag(zili.tensor(flat, device=device), zw,
                          zili.tensor(offsets, device=device), 1.5, 1.0, False, mode)
    want = TF.embedding_bag(torch.tensor(flat), tw, torch.tensor(offsets), 1.5, 1.0, False,
                            mode)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(zw.detach().numpy(), tw.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    got.sum().backward()
    want.sum().backward()
    np.testing.assert_allclose(zw.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_embedding_bag_scale_grad_by_freq_is_refused_with_the_reason(device: str) -> None:
    w = zili.ones(5, 2, device=device, requires_grad=True)
    with pytest.raises(NotImplementedError, match="scale_grad_by_freq"):
        F.embedding_bag(zili.tensor([[1, 2]], device=device), w, scale_grad_by_freq=True)


def test_sparse_gives_a_dense_gradient_and_says_so(device: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zili.nn.losses, "_SPARSE_NOTED", set())  # said once per process
    zili.manual_seed(0)
    layer = zili.nn.Embedding(6, 2, sparse=True, device=device)
    ids = zili.tensor([[1, 1, 4]], device=device)
    with pytest.warns(UserWarning, match="sparse=True.*dense gradient"):
        layer(ids).sum().backward()
    want = np.zeros((6, 2))
    want[1], want[4] = 2.0, 1.0
    np.testing.assert_array_equal(layer.weight.grad.numpy(), want)


def test_modules_weight_freeze_and_from_pretrained(device: str) -> None:
    table = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    frozen = zili.nn.Embedding.from_pretrained(zili.tensor(table, device=device))
    assert not frozen.weight.requires_grad
    reference = torch.nn.Embedding.from_pretrained(torch.tensor(table))
    ids = np.array([[3, 0, 3]])
    np.testing.assert_array_equal(frozen(zili.tensor(ids, device=device)).numpy(),
                                  reference(torch.tensor(ids)).numpy())
    trained = zili.nn.Embedding.from_pretrained(zili.tensor(table, device=device), freeze=False,
                                                max_norm=5.0)
    assert trained.weight.requires_grad
    trained(zili.tensor(ids, device=device))
    reference = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=False,
                                                   max_norm=5.0)
    reference(torch.tensor(ids))
    np.testing.assert_allclose(trained.weight.detach().numpy(),
                               reference.weight.detach().numpy(), rtol=1e-6)
    bag = zili.nn.EmbeddingBag(4, 3, mode="sum", _weight=zili.tensor(table, device=device))
    tbag = torch.nn.EmbeddingBag(4, 3, mode="sum", _weight=torch.tensor(table))
    np.testing.assert_array_equal(bag(zili.tensor(ids, device=device)).detach().numpy(),
                                  tbag(torch.tensor(ids)).detach().numpy())
    with pytest.raises(zili.errors.ShapeError, match=r"_weight has shape \(4, 3\)"):
        zili.nn.Embedding(5, 3, _weight=zili.tensor(table, device=device))
