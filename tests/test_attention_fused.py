"""The cpu device's fused scaled_dot_product_attention (opt-in) against the composite it replaces
(same device, the replacement switched off) and against PyTorch in float64: forward and
backward, causal and not, odd sizes, strided views (the GPT's q/k/v split), and the cases
that must fall back to the composite."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import zili
import zili.nn.functional as F
from zili.tensor.fused import _Attention


@pytest.fixture(scope="module")
def cpu() -> Iterator[zili.devices.Device]:
    try:
        device = zili.get_device("cpu")
    except Exception as error:  # no C compiler: the cpu device is absent
        pytest.skip(f"the cpu device is not available: {error}")
    device.use_fused = True  # opt-in (see CPUDevice.use_fused)
    assert "scaled_dot_product_attention" in device.fused_composites
    yield device
    device.use_fused = False


def _run(arrays: list[np.ndarray], grad: np.ndarray, causal: bool, split: bool = False,
         heads: int = 1) -> tuple[zili.Tensor, list[np.ndarray], bool]:
    """Forward and backward on the cpu device; returns (output, [dq, dk, dv] or [dqkv],
    whether the fused node was recorded)."""
    leaves = [zili.tensor(a, device="cpu", requires_grad=True) for a in arrays]
    if split:  # (B, T, 3C) -> q, k, v as (B, heads, T, C / heads) strided views
        batch, steps, width3 = arrays[0].shape
        width = width3 // 3
        q, k, v = (t.reshape(batch, steps, heads, width // heads).transpose(1, 2)
                   for t in leaves[0].split(width, dim=2))
    else:
        q, k, v = leaves
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    fused = isinstance(out._ctx, _Attention)
    out.backward(zili.tensor(grad, device="cpu"))
    return out.detach(), [t.grad.numpy() for t in leaves], fused


def _torch(arrays: list[np.ndarray], grad: np.ndarray, causal: bool, split: bool = False,
           heads: int = 1) -> tuple[np.ndarray, list[np.ndarray]]:
    leaves = [torch.from_numpy(a).double().requires_grad_() for a in arrays]
    if split:
        batch, steps, width3 = arrays[0].shape
        width = width3 // 3
        q, k, v = (t.reshape(batch, steps, heads, width // heads).transpose(1, 2)
                   for t in leaves[0].split(width, dim=2))
    else:
        q, k, v = leaves
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    out.backward(torch.from_numpy(grad).double())
    return out.detach().numpy(), [t.grad.numpy() for t in leaves]


def _close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)


@settings(max_examples=12, deadline=None)
@given(b=st.integers(1, 2), h=st.integers(1, 3), length=st.integers(1, 70),
       source=st.integers(1, 70), e=st.integers(1, 20), ev=st.integers(1, 20),
       causal=st.booleans(), seed=st.integers(0, 2**31))
def test_fused_attention_matches_composite_and_torch(
        cpu: zili.devices.Device, b: int, h: int, length: int,
        source: int, e: int, ev: int, causal: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32)
              for s in ((b, h, length, e), (b, h, source, e), (b, h, source, ev))]
    grad = rng.standard_normal((b, h, length, ev)).astype(np.float32)
    out, grads, fused = _run(arrays, grad, causal)
    assert fused
    want, want_grads = _torch(arrays, grad, causal)
    _close(out.numpy(), want)
    for got, ref in zip(grads, want_grads):
        _close(got, ref)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cpu, "use_fused", False)
        composite, composite_grads, fused = _run(arrays, grad, causal)
    assert not fused
    _close(out.numpy(), composite.numpy())
    for got, ref in zip(grads, composite_grads):
        _close(got, ref)


@pytest.mark.parametrize("causal", [False, True])
def test_fused_attention_on_gpt_views(cpu: zili.devices.Device, causal: bool) -> None:
    """q, k, v as the GPT makes them: split of one (B, T, 3C) buffer, heads transposed out,
    so the kernel reads (batch, head) axes through two strides."""
    rng = np.random.default_rng(1)
    qkv = rng.standard_normal((3, 33, 3 * 24)).astype(np.float32)
    grad = rng.standard_normal((3, 4, 33, 6)).astype(np.float32)
    out, grads, fused = _run([qkv], grad, causal, split=True, heads=4)
    assert fused
    want, want_grads = _torch([qkv], grad, causal, split=True, heads=4)
    _close(out.numpy(), want)
    _close(grads[0], want_grads[0])


def test_fused_attention_falls_back_where_it_does_not_apply(cpu: zili.devices.Device) -> None:
    """A float mask, dropout and float64 run the composite (and still match PyTorch)."""
    rng = np.random.default_rng(2)
    q, k, v = (zili.tensor(rng.standard_normal((2, 5, 4)).astype(np.float32), device="cpu")
               for _ in range(3))
    mask = zili.tensor(rng.standard_normal((5, 5)).astype(np.float32), device="cpu")
    q.requires_grad = True
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert not isinstance(out._ctx, _Attention)
    want = torch.nn.functional.scaled_dot_product_attention(
        *(torch.from_numpy(t.detach().numpy()) for t in (q, k, v)),
        attn_mask=torch.from_numpy(mask.numpy()))
    _close(out.detach().numpy(), want.numpy())
    q64 = q.detach().double().requires_grad_()
    out64 = F.scaled_dot_product_attention(q64, k.double(), v.double(), is_causal=True)
    assert not isinstance(out64._ctx, _Attention)


def test_fused_attention_under_jit_says_it_uses_the_composite(
        cpu: zili.devices.Device, capsys: pytest.CaptureFixture) -> None:
    """A zili.jit trace records primitives: the traced call runs the composite, says so once,
    and gives the eager (fused) result."""
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 2, 17, 8)).astype(np.float32) for _ in range(3)]

    def attend(q: zili.Tensor, k: zili.Tensor, v: zili.Tensor) -> zili.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    jitted = zili.jit(attend)
    results = [jitted(*(zili.tensor(a, device="cpu") for a in arrays)).numpy()
               for _ in range(3)]
    assert "runs as the composite" in capsys.readouterr().err
    for got in results[1:]:
        _close(got, results[0])
