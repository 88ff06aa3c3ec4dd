"""zili.amp.GradScaler against torch.amp.GradScaler("cpu"): the same float16-autocast model,
the same gradients (with overflows injected), step for step: scales, skipped steps,
parameters, state dicts and the errors PyTorch raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_close

import zili
import zili.nn.functional as F  # noqa: N812

STEPS = 9
BAD = {2, 3, 7}  # steps whose input holds an inf: their gradients overflow


def _setup(device: str):
    rng = np.random.default_rng(7)
    w, b = rng.standard_normal((4, 6)).astype(np.float32), np.zeros(4, np.float32)
    xs = [rng.standard_normal((5, 6)).astype(np.float32) for _ in range(STEPS)]
    for k in BAD:
        xs[k][1, 2] = np.inf
    ys = [rng.standard_normal((5, 4)).astype(np.float32) for _ in range(STEPS)]
    zp = [zili.nn.Parameter(zili.tensor(a, device=device)) for a in (w, b)]
    tp = [torch.nn.Parameter(torch.tensor(a)) for a in (w, b)]
    return zp, tp, xs, ys


def test_scaler_follows_torch_step_for_step(device):
    zp, tp, xs, ys = _setup(device)
    kwargs = {"init_scale": 2.0 ** 10, "growth_factor": 3.0, "backoff_factor": 0.25,
              "growth_interval": 2}
    zs, ts = zili.amp.GradScaler(device, **kwargs), torch.amp.GradScaler("cpu", **kwargs)
    zopt = zili.optim.SGD(zp, lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(tp, lr=0.05, momentum=0.9)
    for step in range(STEPS):
        zx, zy = zili.tensor(xs[step], device=device), zili.tensor(ys[step], device=device)
        tx, ty = torch.tensor(xs[step]), torch.tensor(ys[step])
        with zili.autocast(device, dtype=zili.float16):
            zloss = F.mse_loss(F.linear(zx, *zp), zy)
        with torch.autocast("cpu", dtype=torch.float16):
            tloss = torch.nn.functional.mse_loss(torch.nn.functional.linear(tx, *tp), ty)
        zopt.zero_grad()
        topt.zero_grad()
        zscaled, tscaled = zs.scale(zloss), ts.scale(tloss)
        assert zscaled.dtype.name == str(tscaled.dtype).removeprefix("torch.")
        zscaled.backward()
        tscaled.backward()
        if step % 2:  # unscale_ first (as for gradient clipping) on odd steps
            zs.unscale_(zopt)
            ts.unscale_(topt)
            for z, t in zip(zp, tp):
                assert_close(z.grad, t.grad, rtol=1e-2, atol=1e-2, what=f"unscaled {step}")
        before = [z.detach().numpy().copy() for z in zp]
        zs.step(zopt)
        ts.step(topt)
        if step in BAD:  # the step was skipped: parameters untouched
            for z, old in zip(zp, before):
                np.testing.assert_array_equal(z.detach().numpy(), old)
        zs.update()
        ts.update()
        assert zs.get_scale() == ts.get_scale(), f"scale after step {step}"
        for z, t in zip(zp, tp):
            assert_close(z, t, rtol=1e-2, atol=1e-2, what=f"parameters after step {step}")
    assert zs.state_dict() == ts.state_dict()
    # A state dict from one loads into the other and continues identically.
    fresh = zili.amp.GradScaler(device)
    fresh.load_state_dict(ts.state_dict())
    assert fresh.state_dict() == ts.state_dict()


def test_explicit_new_scale_disabled_scaler_and_errors_match_torch(device):
    zp, tp, xs, ys = _setup(device)
    zs, ts = zili.amp.GradScaler(device), torch.amp.GradScaler("cpu")
    zopt, topt = zili.optim.SGD(zp, lr=0.1), torch.optim.SGD(tp, lr=0.1)
    with pytest.raises((RuntimeError, AssertionError)):  # torch asserts here
        ts.update()
    with pytest.raises(RuntimeError, match="no inf checks"):
        zs.update()
    zs.scale(F.mse_loss(F.linear(zili.tensor(xs[0], device=device), *zp),
                        zili.tensor(ys[0], device=device))).backward()
    ts.scale(torch.nn.functional.mse_loss(torch.nn.functional.linear(
        torch.tensor(xs[0]), *tp), torch.tensor(ys[0]))).backward()
    zs.unscale_(zopt)
    ts.unscale_(topt)
    with pytest.raises(RuntimeError):
        ts.unscale_(topt)
    with pytest.raises(RuntimeError, match="already called"):
        zs.unscale_(zopt)
    zs.step(zopt)
    ts.step(topt)
    with pytest.raises(RuntimeError):
        ts.step(topt)
    with pytest.raises(RuntimeError, match="already called"):
        zs.step(zopt)
    zs.update(new_scale=123.0)
    ts.update(new_scale=123.0)
    assert zs.get_scale() == ts.get_scale()
    # float16 gradients cannot be unscaled (their parameters should be float32).
    half = zili.nn.Parameter(zili.ones(3, device=device, dtype=zili.float16))
    half.grad = zili.ones(3, device=device, dtype=zili.float16)
    with pytest.raises(ValueError, match="float16"):
        zili.amp.GradScaler(device).unscale_(zili.optim.SGD([half], lr=0.1))
    off_z = zili.amp.GradScaler(device, enabled=False)
    off_t = torch.amp.GradScaler("cpu", enabled=False)
    loss = zili.tensor(2.0, device=device)
    assert off_z.scale(loss) is loss and off_z.get_scale() == off_t.get_scale()
    assert off_z.state_dict() == off_t.state_dict() == {}
    with pytest.raises(ValueError, match="growth_factor"):
        zili.amp.GradScaler(device, growth_factor=0.5)
