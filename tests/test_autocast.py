"""zili.autocast against torch.autocast("cpu") on every device: which operations run in the
lower precision, what comes out, gradients, nesting and disabling.

Oracle: PyTorch's CPU autocast for matrix products and losses. For softmax, norms and sums
zili follows PyTorch's CUDA list (float32) on every device, so the oracle there is PyTorch
computing the same operation in float32 on the autocast-dtype input, which is what
torch.autocast("cuda") does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import TORCH_DTYPE, assert_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zili
import zili.nn.functional as F  # noqa: N812

LOWER = ["bfloat16", "float16"]
# One rounding of an O(1) result to the autocast dtype, plus a rounding of an intermediate
# (scores in attention) that PyTorch's fused kernels may skip: a few units of the last place.
TOL = {"bfloat16": (3e-2, 3e-2), "float16": (4e-3, 4e-3)}


def _torch_default(device: str) -> torch.dtype:
    """PyTorch's default autocast dtype for zili ``device``'s type: float16 for CUDA,
    bfloat16 for the CPU (zili's default follows the same rule)."""
    return torch.get_autocast_dtype("cuda" if device == "cuda" else "cpu")


def _arrays(seed: int, *shapes: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _pair(array: np.ndarray, device: str) -> tuple[zili.Tensor, torch.Tensor]:
    return (zili.tensor(array, device=device, requires_grad=True),
            torch.tensor(array, requires_grad=True))


def _check(name: str, zout: zili.Tensor, tout: torch.Tensor, dtype: str) -> None:
    assert zout.dtype.name == str(tout.dtype).removeprefix("torch."), \
        f"{name}: zili gives {zout.dtype.name}, torch {tout.dtype}"
    rtol, atol = TOL[dtype]
    assert_close(zout, tout, rtol=rtol, atol=atol, what=name)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 9), inner=st.integers(1, 24), cols=st.integers(1, 9),
       batch=st.integers(1, 3), seed=st.integers(0, 2 ** 16))
@pytest.mark.parametrize("dtype", LOWER)
def test_products_run_in_the_autocast_dtype_as_torch(device, dtype, rows, inner, cols, batch,
                                                     seed):
    x, w, b, a3, b3 = _arrays(seed, (rows, inner), (cols, inner), (cols,),
                              (batch, rows, inner), (batch, inner, cols))
    zx, tx = _pair(x, device)
    zw, tw = _pair(w, device)
    zb, tb = _pair(b, device)
    za, ta = _pair(a3, device)
    zc, tc = _pair(b3, device)
    with zili.autocast(device, dtype=getattr(zili, dtype)):
        zl = F.linear(zx, zw, zb)
        zm = za @ zc
    with torch.autocast("cpu", dtype=TORCH_DTYPE[dtype]):
        tl = torch.nn.functional.linear(tx, tw, tb)
        tm = ta @ tc
    _check("linear", zl, tl, dtype)
    _check("matmul", zm, tm, dtype)
    # Backward outside the region, as PyTorch recommends: float32 leaves get float32 grads.
    zg, tg = _arrays(seed + 1, (rows, cols), (batch, rows, cols))
    (zl.float() * zili.tensor(zg, device=device)).sum().backward()
    (tl.float() * torch.tensor(zg)).sum().backward()
    (zm.float() * zili.tensor(tg, device=device)).sum().backward()
    (tm.float() * torch.tensor(tg)).sum().backward()
    scale = max(1.0, inner ** 0.5)
    for name, z, t in [("x", zx, tx), ("w", zw, tw), ("b", zb, tb), ("a3", za, ta),
                       ("b3", zc, tc)]:
        assert z.grad.dtype is zili.float32, f"grad of {name}: {z.grad.dtype}"
        rtol, atol = TOL[dtype]
        assert_close(z.grad, t.grad, rtol=rtol, atol=atol * scale, what=f"grad {name}")


@pytest.mark.parametrize("causal", [False, True])
def test_attention_runs_in_bfloat16_as_torch(device, causal):
    q, k, v, mask, g = _arrays(3, (2, 3, 7, 16), (2, 3, 9, 16), (2, 3, 9, 8), (7, 9),
                               (2, 3, 7, 8))
    pairs = [_pair(a, device) for a in (q, k, v)]
    kwargs = {"is_causal": True} if causal else {}
    with zili.autocast(device, dtype=zili.bfloat16):
        zmask = None if causal else zili.tensor(mask, device=device)
        zout = F.scaled_dot_product_attention(*[p[0] for p in pairs], attn_mask=zmask,
                                              **kwargs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        tmask = None if causal else torch.tensor(mask)
        tout = torch.nn.functional.scaled_dot_product_attention(*[p[1] for p in pairs],
                                                                attn_mask=tmask, **kwargs)
    _check("sdpa", zout, tout, "bfloat16")
    (zout.float() * zili.tensor(g, device=device)).sum().backward()
    (tout.float() * torch.tensor(g)).sum().backward()
    for name, (z, t) in zip("qkv", pairs):
        assert z.grad.dtype is zili.float32
        assert_close(z.grad, t.grad, rtol=5e-2, atol=5e-2, what=f"sdpa grad {name}")


@pytest.mark.parametrize("dtype", LOWER)
def test_reductions_softmax_norms_losses_stay_float32(device, dtype):
    x, w, b, y = _arrays(5, (6, 10), (10,), (10,), (6, 10))
    target = np.random.default_rng(5).integers(0, 10, 6)
    tdt = TORCH_DTYPE[dtype]
    low = torch.tensor(x).to(tdt)  # the input as a product under autocast hands it over
    zlow = zili.tensor(x, device=device).to(getattr(zili, dtype))
    zw, zb, zy = (zili.tensor(a, device=device) for a in (w, b, y))
    zt = zili.tensor(target, device=device)
    with zili.autocast(device, dtype=getattr(zili, dtype)):
        got = {"softmax": F.softmax(zlow, -1), "log_softmax": zlow.log_softmax(-1),
               "layer_norm": F.layer_norm(zlow, (10,), zw, zb), "sum": zlow.sum(-1),
               "cross_entropy": F.cross_entropy(zlow, zt), "mse_loss": F.mse_loss(zlow, zy),
               "nll_loss": F.nll_loss(zlow, zt)}
    tw, tb, ty, ttarget = torch.tensor(w), torch.tensor(b), torch.tensor(y), torch.tensor(target)
    f = low.float()
    expected = {"softmax": f.softmax(-1), "log_softmax": f.log_softmax(-1),
                "layer_norm": torch.nn.functional.layer_norm(f, (10,), tw, tb),
                "sum": f.sum(-1)}
    with torch.autocast("cpu", dtype=tdt):  # PyTorch's CPU list has the losses in float32
        expected["cross_entropy"] = torch.nn.functional.cross_entropy(low, ttarget)
        expected["mse_loss"] = torch.nn.functional.mse_loss(low, ty)
        expected["nll_loss"] = torch.nn.functional.nll_loss(low, ttarget)
    for name, value in got.items():
        assert value.dtype is zili.float32, f"{name} under autocast gave {value.dtype}"
        assert expected[name].dtype is torch.float32
        assert_close(value, expected[name], dtype="float32", what=name)


def test_nesting_disabling_and_untouched_dtypes_follow_torch(device):
    x = np.ones((2, 3), np.float32)
    zx, tx = zili.tensor(x, device=device), torch.tensor(x)

    def zdt(a: zili.Tensor) -> str:
        return (a @ a.T).dtype.name

    def tdt(a: torch.Tensor) -> str:
        return str((a @ a.T).dtype).removeprefix("torch.")

    z, t = [zdt(zx)], [tdt(tx)]
    with zili.autocast(device), torch.autocast("cpu", dtype=_torch_default(device)):
        z.append(zdt(zx))
        t.append(tdt(tx))
        z.append(zdt(zx.double()))  # float64 is never cast
        t.append(tdt(tx.double()))
        z.append(zdt(zx.long()))  # nor are integers
        t.append(tdt(tx.long()))
        with zili.autocast(device, enabled=False), torch.autocast("cpu", enabled=False):
            z.append(zdt(zx))
            t.append(tdt(tx))
            with zili.autocast(device, dtype=zili.float16), \
                    torch.autocast("cpu", dtype=torch.float16):
                z.append(zdt(zx))
                t.append(tdt(tx))
                z.append(zili.get_autocast_dtype(device).name)
                t.append(str(torch.get_autocast_dtype("cpu")).removeprefix("torch."))
            z.append(zdt(zx))
            t.append(tdt(tx))
            z.append(zili.is_autocast_enabled(device))
            t.append(torch.is_autocast_enabled("cpu"))
        z.append(zdt(zx))
        t.append(tdt(tx))
        z.append(zili.is_autocast_enabled(device))
        t.append(torch.is_autocast_enabled("cpu"))
    z.append(zdt(zx))
    t.append(tdt(tx))
    assert z == t


def test_region_is_per_device_type_decorates_and_survives_errors(device):
    zx = zili.ones(2, 3, device=device)
    other = "cuda" if device != "cuda" else "numpy"
    with zili.autocast(other):  # a region for another device type casts nothing here
        assert (zx @ zx.T).dtype is zili.float32

    @zili.autocast(device)
    def product(a: zili.Tensor) -> zili.Tensor:
        return a @ a.T

    default = str(_torch_default(device)).removeprefix("torch.")
    assert product(zx).dtype is getattr(zili, default)
    assert not zili.is_autocast_enabled(device)
    with pytest.raises(KeyError), zili.autocast(device):
        raise KeyError("inside")
    assert not zili.is_autocast_enabled(device)
    assert (zx @ zx.T).dtype is zili.float32
    with pytest.raises(ValueError, match="float16 or zili.bfloat16"):
        zili.autocast(device, dtype=zili.float32)
    assert zili.amp.autocast is zili.autocast


def test_training_steps_under_autocast_match_torch(device):
    w1, b1, w2, b2, x = _arrays(11, (16, 8), (16,), (4, 16), (4,), (12, 8))
    y = np.random.default_rng(11).integers(0, 4, 12)
    zparams = [zili.nn.Parameter(zili.tensor(a, device=device)) for a in (w1, b1, w2, b2)]
    tparams = [torch.nn.Parameter(torch.tensor(a)) for a in (w1, b1, w2, b2)]
    zopt = zili.optim.AdamW(zparams, lr=1e-2)
    topt = torch.optim.AdamW(tparams, lr=1e-2)
    zx, zy = zili.tensor(x, device=device), zili.tensor(y, device=device)
    tx, ty = torch.tensor(x), torch.tensor(y)
    for _ in range(3):
        with zili.autocast(device):
            h = F.gelu(F.linear(zx, zparams[0], zparams[1]))
            zloss = F.cross_entropy(F.linear(h, zparams[2], zparams[3]), zy)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            h = torch.nn.functional.gelu(torch.nn.functional.linear(tx, tparams[0], tparams[1]))
            tloss = torch.nn.functional.cross_entropy(
                torch.nn.functional.linear(h, tparams[2], tparams[3]), ty)
        assert zloss.dtype is zili.float32
        assert_close(zloss, tloss, rtol=2e-2, atol=2e-2, what="loss")
        zopt.zero_grad()
        topt.zero_grad()
        zloss.backward()
        tloss.backward()
        zopt.step()
        topt.step()
    for z, t in zip(zparams, tparams):
        assert z.dtype is zili.float32 and z.grad.dtype is zili.float32
        assert all(v.dtype is zili.float32 for v in zopt.state[z].values()
                   if isinstance(v, zili.Tensor) and v.shape == z.shape)
        assert_close(z, t, rtol=2e-2, atol=2e-2, what="parameter after 3 steps")
