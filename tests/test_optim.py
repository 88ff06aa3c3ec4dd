"""Optimizers, gradient clipping and schedules against torch.optim on the same parameters
and gradients; optimizer state round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import assert_close

import zili
from zili import nn, optim
from zili.optim.lr_scheduler import CosineWarmupLR, LambdaLR, cosine_with_warmup

SHAPES = [(3, 4), (5,), (2, 2, 3)]
STEPS = 6


def _params(dtype: str, device: str | None):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    zp = [nn.Parameter(zili.tensor(a, device=device)) for a in arrays]
    tp = [torch.nn.Parameter(torch.tensor(a)) for a in arrays]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return zp, tp, grads


CASES = {
    "sgd": (lambda p: optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd_momentum_wd": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1,
                                            dampening=0.2),
                        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1,
                                                  dampening=0.2)),
    "sgd_nesterov": (lambda p: optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True,
                                         maximize=True),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True,
                                               maximize=True)),
    "adam": (lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1),
             lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1)),
    "adam_amsgrad": (lambda p: optim.Adam(p, lr=0.02, betas=(0.8, 0.9), amsgrad=True),
                     lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.9), amsgrad=True)),
    "adamw": (lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.3, eps=1e-6),
              lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.3, eps=1e-6)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_optimizer_matches_torch(device, dtype, case):
    zp, tp, grads = _params(dtype, device)
    zopt, topt = CASES[case][0](zp), CASES[case][1](tp)
    for step_grads in grads:
        for z, t, g in zip(zp, tp, step_grads):
            z.grad, t.grad = zili.tensor(g, device=device), torch.tensor(g)
        zopt.step()
        topt.step()
        for z, t in zip(zp, tp):
            assert_close(z.detach(), t, dtype, case)
    assert all(z.dtype.name == dtype for z in zp)


def test_param_groups_and_zero_grad():
    zp, tp, grads = _params("float64", None)
    zopt = optim.Adam([{"params": zp[:1], "lr": 0.1}, {"params": zp[1:]}], lr=0.01)
    topt = torch.optim.Adam([{"params": tp[:1], "lr": 0.1}, {"params": tp[1:]}], lr=0.01)
    for z, t, g in zip(zp, tp, grads[0]):
        z.grad, t.grad = zili.tensor(g), torch.tensor(g)
    zopt.step()
    topt.step()
    for z, t in zip(zp, tp):
        assert_close(z.detach(), t)
    zopt.zero_grad()
    assert all(p.grad is None for p in zp)
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([{"params": zp[:1]}, {"params": zp[:1]}], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)


@pytest.mark.parametrize("cls", ["SGD", "AdamW"])
def test_state_dict_resume(cls):
    kwargs = {"lr": 0.05, "momentum": 0.9} if cls == "SGD" else {"lr": 0.05}
    zp, _, grads = _params("float64", None)
    full = getattr(optim, cls)(zp, **kwargs)
    clone = [nn.Parameter(zili.tensor(p.detach().numpy())) for p in zp]
    first = getattr(optim, cls)(clone, **kwargs)
    for i, step_grads in enumerate(grads):
        for a, b, g in zip(zp, clone, step_grads):
            a.grad, b.grad = zili.tensor(g), zili.tensor(g)
        full.step()
        first.step()
        if i == 2:  # resume in a fresh optimizer from the saved state
            state = first.state_dict()
            first = getattr(optim, cls)(clone, lr=1.0)
            first.load_state_dict(state)
    for a, b in zip(zp, clone):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm(device, norm_type, max_norm):
    zp, tp, grads = _params("float64", device)
    for z, t, g in zip(zp, tp, grads[0]):
        z.grad, t.grad = zili.tensor(g, device=device), torch.tensor(g)
    znorm = nn.utils.clip_grad_norm_(zp, max_norm, norm_type)
    tnorm = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type)
    assert isinstance(znorm, zili.Tensor) and znorm.shape == ()
    assert_close(znorm, tnorm, "float64", "total norm")
    for z, t in zip(zp, tp):
        assert_close(z.grad, t.grad, "float64", "clipped grad")


def test_clip_grad_nonfinite():
    p = nn.Parameter(zili.ones(3))
    p.grad = zili.tensor([1.0, float("inf"), 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_cosine_warmup_schedule():
    p = [nn.Parameter(zili.zeros(1))]
    opt = optim.SGD(p, lr=1.0)
    warmup, total, low = 5, 25, 0.1
    sched = CosineWarmupLR(opt, warmup, total, min_lr=low)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(30):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs[:warmup], np.arange(1, warmup + 1) / warmup)
    t = np.arange(warmup, total + 1)
    expected = low + (1.0 - low) * 0.5 * (1 + np.cos(np.pi * (t - warmup) / (total - warmup)))
    np.testing.assert_allclose(lrs[warmup:total + 1], expected, rtol=1e-12)
    assert lrs[total:] == [low] * (len(lrs) - total)
    # the cosine part equals torch's CosineAnnealingLR closed form with eta_min
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(topt, total - warmup, eta_min=low)
    torch_lrs = [ref.get_last_lr()[0]]
    for _ in range(total - warmup):
        topt.step()
        ref.step()
        torch_lrs.append(ref.get_last_lr()[0])
    np.testing.assert_allclose(lrs[warmup:total + 1], torch_lrs, rtol=1e-9)
    assert sched.get_last_lr() == [low]
    with pytest.raises(ValueError, match="warmup_steps"):
        cosine_with_warmup(0, 1.0, 10, 5)


def test_lambda_lr_matches_torch():
    fn = lambda step: 0.9 ** step  # noqa: E731
    opt = optim.SGD([nn.Parameter(zili.zeros(1))], lr=0.3)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    a, b = LambdaLR(opt, fn), torch.optim.lr_scheduler.LambdaLR(topt, fn)
    for _ in range(4):
        opt.step()
        topt.step()
        a.step()
        b.step()
        assert a.get_last_lr() == pytest.approx(b.get_last_lr())
    state = a.state_dict()
    assert state["last_epoch"] == 4 and "optimizer" not in state


def test_training_reduces_loss():
    zili.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 3))
    opt = optim.AdamW(model.parameters(), lr=0.05)
    x = zili.randn(32, 4)
    y = zili.tensor((x.numpy()[:, 0] > 0).astype(np.int64) + (x.numpy()[:, 1] > 0))
    losses = []
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
