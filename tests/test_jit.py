"""zili.jit against eager execution: same results on random inputs, retracing on new shapes,
parameters updated in place across replays, and a training loop giving eager's losses.

The oracle is zili's own eager path on the numpy device where noted (already checked against
PyTorch by the primitive tests) and PyTorch for the jitted results' forward values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_close, zt

import zili


def _ln(x: zili.Tensor, w: zili.Tensor, b: zili.Tensor) -> zili.Tensor:
    return zili.nn.functional.layer_norm(x, (x.shape[-1],), w, b)


CASES = {
    "fused_exp_sum": (lambda a, b, c: ((a * b) + c).exp().sum(-1),
                      lambda a, b, c: ((a * b) + c).exp().sum(-1)),
    "softmax_matmul": (lambda a, b, c: (a @ b.transpose(-1, -2)).softmax(-1) * c.sum(),
                       lambda a, b, c: (a @ b.transpose(-1, -2)).softmax(-1) * c.sum()),
    "layer_norm": (lambda a, b, c: _ln(a, b[0], c[0]),
                   lambda a, b, c: torch.nn.functional.layer_norm(a, (a.shape[-1],), b[0],
                                                                  c[0])),
    "permuted_broadcast": (lambda a, b, c: (a.transpose(0, 1) * b.amax(1)).transpose(0, 1) - c,
                           lambda a, b, c: (a.transpose(0, 1) * b.amax(1)).transpose(0, 1) - c),
}


@pytest.mark.parametrize("name", list(CASES))
def test_jit_matches_torch_on_random_inputs(device: str, name: str) -> None:
    zfn, tfn = CASES[name]
    jitted = zili.jit(zfn)
    rng = np.random.default_rng(len(name))
    for _ in range(4):  # eager call, trace, then two replays with new values
        arrays = [rng.standard_normal((5, 12)).astype(np.float32) for _ in range(3)]
        out = jitted(*[zt(a, device) for a in arrays])
        assert_close(out, tfn(*[torch.tensor(a) for a in arrays]), "float32", name)
    assert jitted.traces == 1


def test_jit_retraces_on_new_shapes(device: str) -> None:
    jitted = zili.jit(lambda a, b: (a * b + 1).sum(0))
    rng = np.random.default_rng(0)
    for shape in [(3, 4), (3, 4), (3, 4), (6, 2), (6, 2), (3, 4)]:
        a, b = rng.standard_normal(shape), rng.standard_normal(shape)
        out = jitted(zt(a, device), zt(b, device))
        np.testing.assert_allclose(out.numpy(), (a * b + 1).sum(0), 1e-12)
    assert jitted.traces == 2  # (3,4) once, (6,2) once; the last call replays (3,4)
    assert len(jitted.plans) == 2


def test_jit_updates_parameters_in_place(device: str) -> None:
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((4, 3))
    w = zt(w0, device)

    @zili.jit
    def step(x: zili.Tensor) -> zili.Tensor:
        w.sub_(x * 0.5)
        return (w * w).sum()

    expected = w0.copy()
    for _ in range(5):
        x = rng.standard_normal((4, 3))
        out = step(zt(x, device))
        expected -= x * 0.5
        np.testing.assert_allclose(w.numpy(), expected, 1e-12)
        np.testing.assert_allclose(out.numpy(), (expected ** 2).sum(), 1e-12)


def test_jit_training_loop_matches_eager(device: str) -> None:
    rng = np.random.default_rng(2)
    batch = (rng.standard_normal((8, 6)).astype(np.float32),
             rng.standard_normal((8, 2)).astype(np.float32))
    data = [batch] * 6  # one batch: the loss must fall

    def run(use_jit: bool) -> list[float]:
        zili.manual_seed(0)
        model = zili.nn.Sequential(zili.nn.Linear(6, 16), zili.nn.Tanh(), zili.nn.Linear(16, 2))
        model.to(device)
        opt = zili.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x: zili.Tensor, y: zili.Tensor) -> zili.Tensor:
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss.detach()

        fn = zili.jit(step) if use_jit else step
        return [float(fn(zt(x, device), zt(y, device)).item()) for x, y in data]

    eager, jitted = run(False), run(True)
    np.testing.assert_allclose(jitted, eager, rtol=1e-5)
    assert jitted[-1] < jitted[0]


def test_jit_refuses_to_read_values_inside(device: str) -> None:
    jitted = zili.jit(lambda a: (a * 2).sum().item())
    a = zt(np.ones(3), device)
    jitted(a)  # the first call runs eagerly
    with pytest.raises(RuntimeError, match="cannot read tensor values"):
        jitted(a)


def test_jit_adamw_with_schedule_matches_eager(device: str) -> None:
    # The step count and the scheduled learning rate change every step: under jit they must
    # reach the replayed kernels as data (a frozen bias correction or lr would drift).
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 2))
    xs = [rng.standard_normal((8, 6)) for _ in range(7)]
    data = [(x.astype(np.float32), np.tanh(x @ w).astype(np.float32)) for x in xs]

    def run(use_jit: bool, tensor_lr: bool) -> tuple[list[float], list[np.ndarray]]:
        zili.manual_seed(0)
        model = zili.nn.Sequential(zili.nn.Linear(6, 16), zili.nn.GELU(),
                                   zili.nn.LayerNorm(16), zili.nn.Linear(16, 2))
        model.to(device)
        lr = zili.tensor(0.05, device=device) if tensor_lr else 0.05
        opt = zili.optim.AdamW(model.parameters(), lr=lr, betas=(0.8, 0.95),
                               weight_decay=0.1)
        sched = zili.optim.lr_scheduler.CosineWarmupLR(opt, 2, 6, min_lr=0.005)

        def step(x: zili.Tensor, y: zili.Tensor) -> zili.Tensor:
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            zili.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            return loss.detach()

        fn = zili.jit(step) if use_jit else step
        losses = []
        for x, y in data:
            losses.append(float(fn(zt(x, device), zt(y, device)).item()))
            sched.step()
        return losses, [p.detach().numpy() for p in model.parameters()]

    eager_losses, eager_params = run(False, tensor_lr=False)
    jit_losses, jit_params = run(True, tensor_lr=True)
    np.testing.assert_allclose(jit_losses, eager_losses, rtol=2e-6)
    for a, b in zip(jit_params, eager_params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert jit_losses[-1] < jit_losses[0]
