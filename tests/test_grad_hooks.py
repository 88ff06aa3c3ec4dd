"""``Tensor.register_post_accumulate_grad_hook`` (what data parallelism starts its bucket
all-reduces from) against PyTorch: which leaves fire, how often, and the gradient each sees."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zili


def _record(params: list, seen: list) -> list:
    return [p.register_post_accumulate_grad_hook(
        lambda t, i=i: seen.append((i, np.array(t.grad.detach().numpy(), copy=True))))
        for i, p in enumerate(params)]


def test_hooks_fire_once_per_leaf_with_the_accumulated_gradient(device: str) -> None:
    rng = np.random.default_rng(0)
    w1, w2, x = (rng.standard_normal(s).astype(np.float32) for s in ((4, 3), (3, 2), (5, 4)))
    zp = [zili.tensor(w, device=device, requires_grad=True) for w in (w1, w2)]
    tp = [torch.tensor(w, requires_grad=True) for w in (w1, w2)]
    zseen: list = []
    tseen: list = []
    _record(zp, zseen)
    _record(tp, tseen)
    zx, tx = zili.tensor(x, device=device), torch.tensor(x)
    # w1 is used twice: its hook must fire once, after both contributions are summed.
    ((zx @ zp[0]) @ zp[1] + (zx @ zp[0]).sum()).sum().backward()
    ((tx @ tp[0]) @ tp[1] + (tx @ tp[0]).sum()).sum().backward()
    assert sorted(i for i, _ in zseen) == sorted(i for i, _ in tseen) == [0, 1]
    got, want = dict(zseen), dict(tseen)
    for i in (0, 1):
        np.testing.assert_allclose(got[i], want[i], rtol=1e-5, atol=1e-5)


def test_a_removed_hook_stays_silent_and_non_leaves_are_refused() -> None:
    p = zili.tensor([1.0, 2.0], requires_grad=True)
    calls: list = []
    handle = p.register_post_accumulate_grad_hook(calls.append)
    (p * 2).sum().backward()
    handle.remove()
    (p * 2).sum().backward()
    assert len(calls) == 1
    with pytest.raises(RuntimeError, match="leaf"):
        (p * 2).register_post_accumulate_grad_hook(calls.append)
