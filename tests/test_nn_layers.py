"""Layers against torch.nn layers with copied weights (forward, input and weight
gradients), attention against a torch reference, and the initialisers' statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from helpers import assert_close

import zili
from zili import nn

DTYPES = ["float32", "float64"]


def _copy_weights(zmod: nn.Module, tmod: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, tp in tmod.named_parameters():
            tp.copy_(torch.tensor(zmod.get_parameter(name).detach().numpy()))


def _check(zmod, tmod, x: np.ndarray, device: str, dtype: str, integer_input: bool = False):
    """Same output, input gradient and parameter gradients for the same weights."""
    zmod.to(device=device, dtype=dtype)
    tmod.to(getattr(torch, dtype))
    _copy_weights(zmod, tmod)
    zx = zili.tensor(x, device=device, requires_grad=not integer_input)
    tx = torch.tensor(x, requires_grad=not integer_input)
    zout, tout = zmod(zx), tmod(tx)
    assert_close(zout, tout, dtype, "forward")
    cot = np.random.default_rng(0).standard_normal(tout.shape).astype(x.dtype if not
                                                                       integer_input else dtype)
    zout.backward(zili.tensor(cot, device=device))
    tout.backward(torch.tensor(cot))
    if not integer_input:
        assert_close(zx.grad, tx.grad, dtype, "input grad")
    for name, tp in tmod.named_parameters():
        assert_close(zmod.get_parameter(name).grad, tp.grad, dtype, f"grad of {name}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear(device, dtype):
    x = np.random.default_rng(1).standard_normal((2, 3, 5)).astype(dtype)
    _check(nn.Linear(5, 4), torch.nn.Linear(5, 4), x, device, dtype)
    _check(nn.Linear(5, 2, bias=False), torch.nn.Linear(5, 2, bias=False), x, device, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding(device, dtype):
    idx = np.random.default_rng(2).integers(0, 7, (3, 4)).astype(np.int64)
    _check(nn.Embedding(7, 5), torch.nn.Embedding(7, 5), idx, device, dtype, True)
    z = nn.Embedding(7, 5, padding_idx=2)
    assert not z.weight.detach().numpy()[2].any()
    _check(z, torch.nn.Embedding(7, 5, padding_idx=2), idx, device, dtype, True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_norm_layers(device, dtype):
    x = (np.random.default_rng(3).standard_normal((2, 3, 6)) * 3 + 1).astype(dtype)
    _check(nn.LayerNorm(6), torch.nn.LayerNorm(6), x, device, dtype)
    _check(nn.LayerNorm((3, 6), eps=1e-3), torch.nn.LayerNorm((3, 6), eps=1e-3), x, device,
           dtype)
    _check(nn.LayerNorm(6, bias=False), torch.nn.LayerNorm(6, bias=False), x, device, dtype)
    _check(nn.RMSNorm(6), torch.nn.RMSNorm(6), x, device, dtype)
    _check(nn.RMSNorm(6, eps=1e-5), torch.nn.RMSNorm(6, eps=1e-5), x, device, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_layers(device, dtype):
    x = np.random.default_rng(4).standard_normal((3, 5)).astype(dtype) * 3
    pairs = [(nn.GELU(), torch.nn.GELU()), (nn.GELU("tanh"), torch.nn.GELU("tanh")),
             (nn.SiLU(), torch.nn.SiLU()), (nn.ReLU(), torch.nn.ReLU()),
             (nn.Tanh(), torch.nn.Tanh()), (nn.Sigmoid(), torch.nn.Sigmoid()),
             (nn.Softmax(0), torch.nn.Softmax(0)), (nn.LogSoftmax(1), torch.nn.LogSoftmax(1)),
             (nn.Identity(), torch.nn.Identity())]
    for z, t in pairs:
        if isinstance(z, nn.GELU) and z.approximate == "none" and dtype == "float64":
            continue  # erf's polynomial is accurate to 1e-7: covered in test_nn_functional
        _check(z, t, x, device, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sequential_mlp(device, dtype):
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(dtype)
    z = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.LayerNorm(8), nn.Linear(8, 3))
    t = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.LayerNorm(8),
                            torch.nn.Linear(8, 3))
    _check(z, t, x, device, dtype)


class TorchCausalSelfAttention(torch.nn.Module):
    """The reference: the same computation with torch's own layers and attention."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (y.view(b, t, self.heads, c // self.heads).transpose(1, 2) for y in (q, k, v))
        y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


@pytest.mark.parametrize("dtype", DTYPES)
def test_causal_self_attention(device, dtype):
    x = np.random.default_rng(6).standard_normal((2, 5, 8)).astype(dtype)
    _check(nn.CausalSelfAttention(8, 2), TorchCausalSelfAttention(8, 2), x, device, dtype)


def test_causal_self_attention_is_causal(device):
    attn = nn.CausalSelfAttention(8, 4).to(device)
    x = zili.randn(1, 6, 8, device=device)
    x2 = x.detach().numpy().copy()
    x2[0, 4:] += 5.0  # change the future only
    a = attn(x).detach().numpy()
    b = attn(zili.tensor(x2, device=device)).detach().numpy()
    np.testing.assert_allclose(a[0, :4], b[0, :4], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[0, 4:], b[0, 4:])
    with pytest.raises(ValueError, match="divisible"):
        nn.CausalSelfAttention(10, 3)


def test_dropout_layer(device):
    drop = nn.Dropout(0.25)
    x = zili.ones(100, 100, device=device)
    kept = (drop(x).numpy() != 0).mean()
    assert abs(kept - 0.75) < 0.02
    drop.eval()
    assert drop(x) is x


def test_init_statistics():
    zili.manual_seed(0)
    w = zili.empty(400, 300)
    n = w.numel()

    def stats(t):
        a = t.numpy().astype(np.float64)
        return a.mean(), a.std(), a.min(), a.max()
    mean, std, lo, hi = stats(nn.init.normal_(w, 1.0, 2.0))
    assert abs(mean - 1.0) < 4 * 2 / math.sqrt(n) and abs(std - 2.0) < 0.02
    mean, std, lo, hi = stats(nn.init.uniform_(w, -3.0, 1.0))
    assert lo >= -3.0 and hi < 1.0 and abs(mean + 1.0) < 0.02
    _, std, _, _ = stats(nn.init.xavier_normal_(w))
    assert abs(std - math.sqrt(2 / 700)) < 0.01 * math.sqrt(2 / 700) * 5
    _, _, lo, hi = stats(nn.init.xavier_uniform_(w))
    bound = math.sqrt(6 / 700)
    assert -bound <= lo < -0.99 * bound and 0.99 * bound < hi <= bound
    _, std, _, _ = stats(nn.init.kaiming_normal_(w, nonlinearity="relu"))
    assert abs(std / math.sqrt(2 / 300) - 1) < 0.02
    mean, std, lo, hi = stats(nn.init.trunc_normal_(w, 0.5, 1.0, -1.0, 1.5))
    ref = torch.nn.init.trunc_normal_(torch.empty(400, 300, dtype=torch.float64), 0.5, 1.0,
                                      -1.0, 1.5)
    assert lo >= -1.0 and hi <= 1.5
    assert abs(mean - ref.mean().item()) < 0.02 and abs(std - ref.std().item()) < 0.02
    assert nn.init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain(
        "leaky_relu", 0.2)
