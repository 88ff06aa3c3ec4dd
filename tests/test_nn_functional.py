"""zili.nn.functional composites forward and backward against torch.nn.functional, in
float32 and float64 on random shapes and values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from helpers import compare, gradcheck, randn, random_shape, zt

import zili
import zili.nn.functional as F  # noqa: N812

DTYPES = ["float32", "float64"]
SEEDS = [0, 1]


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, sum(map(ord, name))])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu", "relu", "softplus",
                                  "softmax", "log_softmax"])
def test_activations(device, dtype, seed, name):
    rng = _rng(seed, name)
    shape = random_shape(rng, int(rng.integers(1, 4)))
    x = randn(rng, shape, dtype) * 3
    fns = {
        "gelu": (F.gelu, TF.gelu),
        "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                      lambda x: TF.gelu(x, approximate="tanh")),
        "silu": (F.silu, TF.silu),
        "relu": (F.relu, TF.relu),
        "softplus": (lambda x: F.softplus(x, beta=2.0, threshold=3.0),
                     lambda x: TF.softplus(x, beta=2.0, threshold=3.0)),
        "softmax": (lambda x: F.softmax(x, -1), lambda x: TF.softmax(x, -1)),
        "log_softmax": (lambda x: F.log_softmax(x, 0), lambda x: TF.log_softmax(x, 0)),
    }
    zfn, tfn = fns[name]
    # erf is a polynomial fit (|error| < 1.2e-7), so exact GELU in float64 is that close
    tol = {"rtol": 1e-6, "atol": 1e-6} if name == "gelu" and dtype == "float64" else {}
    compare(zfn, tfn, [x], device, dtype, **tol)


def test_erf_accuracy(device):
    x = np.linspace(-6, 6, 2001)
    out = F.erf(zt(x, device)).numpy()
    assert np.max(np.abs(out - torch.erf(torch.tensor(x)).numpy())) < 2e-7
    compare(F.erf, torch.erf, [x[::50].copy()], device, "float64", rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_norms(device, dtype, seed):
    rng = _rng(seed, "norm")
    shape = random_shape(rng, int(rng.integers(2, 4)), low=2)
    k = int(rng.integers(1, len(shape)))
    norm_shape = shape[-k:]
    x, w, b = randn(rng, shape, dtype) * 2 + 1, randn(rng, norm_shape, dtype), \
        randn(rng, norm_shape, dtype)
    compare(lambda x, w, b: F.layer_norm(x, norm_shape, w, b, 1e-5),
            lambda x, w, b: TF.layer_norm(x, norm_shape, w, b, 1e-5), [x, w, b], device, dtype)
    compare(lambda x, w: F.rms_norm(x, norm_shape, w),
            lambda x, w: TF.rms_norm(x, norm_shape, w), [x, w], device, dtype)
    compare(lambda x: F.layer_norm(x, norm_shape), lambda x: TF.layer_norm(x, norm_shape),
            [x], device, dtype)


def test_layer_norm_bad_shape(device):
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(zili.zeros(2, 3, device=device), (4,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_linear_embedding(device, dtype, seed):
    rng = _rng(seed, "linear")
    lead = random_shape(rng, int(rng.integers(1, 3)))
    fin, fout = (int(v) for v in rng.integers(1, 6, 2))
    x, w, b = randn(rng, lead + (fin,), dtype), randn(rng, (fout, fin), dtype), \
        randn(rng, (fout,), dtype)
    compare(F.linear, TF.linear, [x, w, b], device, dtype)
    compare(F.linear, TF.linear, [x, w], device, dtype)
    idx = rng.integers(0, 5, size=lead).astype(np.int64)
    table = randn(rng, (5, 3), dtype)
    compare(lambda i, t: F.embedding(i, t), lambda i, t: TF.embedding(i, t), [idx, table],
            device, dtype)
    compare(lambda i, t: F.embedding(i, t, padding_idx=1),
            lambda i, t: TF.embedding(i, t, padding_idx=1), [idx, table], device, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(device, dtype, seed, reduction):
    rng = _rng(seed, "ce" + reduction)
    n, c = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    extra = random_shape(rng, int(rng.integers(0, 2)))
    logits = randn(rng, (n, c) + extra, dtype) * 2
    target = rng.integers(0, c, size=(n,) + extra).astype(np.int64)
    target.flat[0] = -100  # one ignored target
    weight = rng.uniform(0.5, 2.0, c).astype(logits.dtype)
    for smoothing in (0.0, 0.2):
        compare(lambda x, t, s=smoothing: F.cross_entropy(x, t, reduction=reduction,
                                                          label_smoothing=s),
                lambda x, t, s=smoothing: TF.cross_entropy(x, t, reduction=reduction,
                                                           label_smoothing=s),
                [logits, target], device, dtype)
        compare(lambda x, t, w, s=smoothing: F.cross_entropy(x, t, w, reduction=reduction,
                                                             label_smoothing=s),
                lambda x, t, w, s=smoothing: TF.cross_entropy(x, t, w, reduction=reduction,
                                                              label_smoothing=s),
                [logits, target, weight], device, dtype, grad=[True, False, False])
    probs = np.asarray(torch.softmax(torch.tensor(randn(rng, logits.shape, dtype)), 1))
    compare(lambda x, p: F.cross_entropy(x, p, reduction=reduction, label_smoothing=0.1),
            lambda x, p: TF.cross_entropy(x, p, reduction=reduction, label_smoothing=0.1),
            [logits, probs], device, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses(device, dtype):
    rng = _rng(0, "losses")
    x, y = randn(rng, (4, 3), dtype), randn(rng, (4, 3), dtype)
    logp = np.asarray(torch.log_softmax(torch.tensor(x), 1))
    t = rng.integers(0, 3, 4).astype(np.int64)
    compare(F.nll_loss, TF.nll_loss, [logp, t], device, dtype)
    compare(F.mse_loss, TF.mse_loss, [x, y], device, dtype)
    compare(lambda a, b: F.mse_loss(a, b, reduction="sum"),
            lambda a, b: TF.mse_loss(a, b, reduction="sum"), [x, y], device, dtype)
    compare(F.l1_loss, TF.l1_loss, [x, y], device, dtype)
    yb = rng.uniform(0, 1, (4, 3)).astype(x.dtype)
    compare(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
            [x * 4, yb], device, dtype)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(zt(x, device), zt(y, device), reduction="avg")


def test_cross_entropy_gradcheck(device):
    rng = _rng(0, "cegc")
    t = zt(np.array([2, 0, -100]), device)
    gradcheck(lambda x: F.cross_entropy(x, t, label_smoothing=0.1), [rng.standard_normal((3, 4))],
              device)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_sdpa(device, dtype, seed):
    rng = _rng(seed, "sdpa")
    b, h, lq, e = (int(v) for v in rng.integers(1, 5, 4))
    q, k, v = randn(rng, (b, h, lq, e), dtype), randn(rng, (b, h, lq, e), dtype), \
        randn(rng, (b, h, lq, e + 1), dtype)
    compare(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
            lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
            [q, k, v], device, dtype)
    s = lq + 2
    k2, v2 = randn(rng, (b, h, s, e), dtype), randn(rng, (b, h, s, e), dtype)
    mask = rng.random((lq, s)) < 0.7
    mask[:, 0] = True
    compare(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3),
            lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3),
            [q, k2, v2, mask], device, dtype, grad=[True, True, True, False])
    bias = randn(rng, (lq, s), dtype)
    compare(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
            lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
            [q, k2, v2, bias], device, dtype)


def test_sdpa_gqa(device):
    rng = _rng(0, "gqa")
    q, k, v = rng.standard_normal((2, 4, 3, 5)), rng.standard_normal((2, 2, 3, 5)), \
        rng.standard_normal((2, 2, 3, 5))
    compare(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                           enable_gqa=True),
            lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                            enable_gqa=True),
            [q, k, v], device, "float64")


def test_dropout(device):
    x = zili.ones(200, 50, device=device, requires_grad=True)
    zili.manual_seed(7)
    y = F.dropout(x, 0.3)
    kept = y.detach().numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.02  # 10,000 draws: 4 sigma is ~0.018
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)
    zili.manual_seed(7)
    assert np.array_equal(F.dropout(x, 0.3).detach().numpy(), y.detach().numpy())
    assert F.dropout(x, 0.3, training=False) is x
    assert not F.dropout(x, 1.0).detach().numpy().any()
    with pytest.raises(ValueError, match="probability"):
        F.dropout(x, 1.5)


def test_one_hot(device):
    idx = np.array([[0, 3], [2, 1]])
    out = F.one_hot(zt(idx, device), 5)
    assert out.dtype is zili.int64
    np.testing.assert_array_equal(out.numpy(), TF.one_hot(torch.tensor(idx), 5).numpy())
    np.testing.assert_array_equal(F.one_hot(zt(idx, device)).numpy(),
                                  TF.one_hot(torch.tensor(idx)).numpy())
    with pytest.raises(ValueError, match="class values"):
        F.one_hot(zt(idx, device), 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["gelu_tanh", "silu", "sigmoid", "tanh"])
def test_activations_at_extreme_inputs(device, dtype, name):
    # Very negative inputs overflow a naive exp(-x): values must stay finite and gradients
    # must be zero, not inf * 0 = NaN, as in PyTorch.
    x = np.array([-1e4, -500.0, -120.0, -60.0, -11.0, 0.0, 11.0, 60.0, 500.0, 1e4], dtype)
    fns = {
        "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                      lambda x: TF.gelu(x, approximate="tanh")),
        "silu": (F.silu, TF.silu),
        "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid),
        "tanh": (lambda x: x.tanh(), torch.tanh),
    }
    zfn, tfn = fns[name]
    compare(zfn, tfn, [x], device, dtype)
