"""Module and Parameter: registration, traversal, modes, state dicts, moving, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zili
from zili import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.scale = nn.Parameter(zili.ones(4))
        self.register_buffer("mask", zili.ones(4))
        self.register_buffer("cache", zili.zeros(2), persistent=False)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.norm(self.fc(x)) * self.scale * self.mask)


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.scale = torch.nn.Parameter(torch.ones(4))
        self.register_buffer("mask", torch.ones(4))
        self.register_buffer("cache", torch.zeros(2), persistent=False)
        self.drop = torch.nn.Dropout(0.5)


def test_parameter_is_tensor():
    p = nn.Parameter(zili.randn(2, 3))
    assert isinstance(p, nn.Parameter) and isinstance(p, zili.Tensor)
    assert p.requires_grad and p.is_leaf and p.shape == (2, 3)
    assert type(p * 2) is zili.Tensor
    frozen = nn.Parameter(zili.zeros(2), requires_grad=False)
    assert not frozen.requires_grad
    with pytest.raises(RuntimeError, match="floating-point"):
        nn.Parameter(zili.arange(3))


def test_names_and_order_match_torch():
    z, t = Block(), TorchBlock()
    assert [n for n, _ in z.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in z.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(z.state_dict()) == list(t.state_dict())
    assert [n for n, _ in z.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in z.named_children()] == [n for n, _ in t.named_children()]
    assert z.num_parameters() == sum(p.numel() for p in t.parameters())


def test_shared_parameter_counted_once():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_train_eval_and_dropout():
    m = Block()
    assert m.training and m.drop.training
    m.eval()
    assert not m.training and not m.drop.training
    x = zili.randn(5, 3)
    np.testing.assert_array_equal(m(x).detach().numpy(), m(x).detach().numpy())
    m.train()
    assert m.drop.training


def test_zero_grad_and_backward():
    m = Block().eval()
    m(zili.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m(zili.randn(2, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in m.parameters())


def test_state_dict_round_trip_into_torch():
    z, t = Block(), TorchBlock()
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in z.state_dict().items()})
    back = Block()
    back.load_state_dict({k: zili.tensor(v.numpy()) for k, v in t.state_dict().items()})
    for (name, a), b in zip(back.state_dict().items(), z.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_load_state_dict_keeps_parameter_identity():
    m = nn.Linear(2, 3)
    weight = m.weight
    m.load_state_dict({"weight": zili.ones(3, 2, dtype=zili.float64), "bias": zili.zeros(3)})
    assert m.weight is weight and m.weight.dtype is zili.float32
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones((3, 2)))


def test_load_state_dict_errors():
    m = nn.Linear(2, 3)
    good = m.state_dict()
    with pytest.raises(RuntimeError, match='Missing key.*"bias"'):
        m.load_state_dict({"weight": good["weight"]})
    with pytest.raises(RuntimeError, match='Unexpected key.*"extra"'):
        m.load_state_dict({**good, "extra": zili.zeros(1)})
    with pytest.raises(RuntimeError, match=r"size mismatch for weight.*\(2, 2\).*\(3, 2\)"):
        m.load_state_dict({"weight": zili.zeros(2, 2), "bias": good["bias"]})
    result = m.load_state_dict({"weight": good["weight"], "extra": zili.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    with pytest.raises(RuntimeError, match="size mismatch"):  # shapes are checked even then
        m.load_state_dict({"weight": zili.zeros(1)}, strict=False)


def test_to_dtype_and_apply():
    m = Block().double()
    assert all(p.dtype is zili.float64 for p in m.parameters())
    assert m.mask.dtype is zili.float64
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Block" and "Linear" in seen
    m.to("float32")
    assert m.fc.weight.dtype is zili.float32


def test_registration_rules():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(zili.zeros(1))
    with pytest.raises(AttributeError, match="super"):
        Bad()
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = zili.zeros(2, 2)
    m.weight = None
    assert [n for n, _ in m.named_parameters()] == ["bias"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = m.nope
    assert m.get_submodule("") is m
    with pytest.raises(AttributeError, match="no submodule"):
        m.get_submodule("x.y")


def test_containers():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.Tanh())
    assert isinstance(layers[-1], nn.Tanh) and len(layers[1:]) == 3
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d["b"] = nn.Linear(1, 2)
    assert list(d.keys()) == ["a", "b"] and "b" in d
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias", "b.weight", "b.bias"]
    seq = nn.Sequential(nn.Linear(2, 3), nn.SiLU(), nn.Linear(3, 1))
    assert seq(zili.randn(4, 2)).shape == (4, 1) and isinstance(seq[1], nn.SiLU)
    assert "Linear(in_features=2, out_features=3, bias=True)" in repr(seq)


def test_init_reproducible_per_seed():
    zili.manual_seed(3)
    a = nn.Linear(8, 8).weight.detach().numpy()
    zili.manual_seed(3)
    b = nn.Linear(8, 8).weight.detach().numpy()
    np.testing.assert_array_equal(a, b)
    bound = 1 / np.sqrt(8)  # torch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.7 * bound
