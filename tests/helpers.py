"""Oracles shared by the tests: compare zili with PyTorch forward and backward, and check
gradients by finite differences in float64 with NumPy.

Nothing here takes expected values from zili itself: the reference is always PyTorch on the
CPU or a NumPy computation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import zili

TOL = {  # (rtol, atol) per dtype name for comparisons against PyTorch
    "float32": (2e-4, 2e-5),
    "float64": (1e-9, 1e-11),
}
NP_DTYPE = {"float32": np.float32, "float64": np.float64}
TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
               "bfloat16": torch.bfloat16, "int32": torch.int32, "int64": torch.int64,
               "uint8": torch.uint8, "bool": torch.bool, "int8": torch.int8,
               "int16": torch.int16, "uint16": torch.uint16, "uint32": torch.uint32,
               "uint64": torch.uint64}


def zt(array: np.ndarray, device: str, requires_grad: bool = False) -> zili.Tensor:
    """A zili tensor with a copy of ``array`` (its dtype kept)."""
    return zili.tensor(np.array(array, order="C"), device=device, requires_grad=requires_grad)


def tt(array: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A torch tensor with a copy of ``array``."""
    return torch.tensor(np.array(array, order="C"), requires_grad=requires_grad)


def to_np(x: Any) -> np.ndarray:
    """A NumPy copy of a zili or torch tensor."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.float() if x.dtype is torch.bfloat16 else x).numpy()
    return x.detach().numpy()


def assert_close(actual: Any, expected: Any, dtype: str = "float64", what: str = "",
                 rtol: float | None = None, atol: float | None = None) -> None:
    """Values and shapes equal within the tolerance for ``dtype`` (NaNs must match)."""
    a, e = to_np(actual) if not isinstance(actual, np.ndarray) else actual, \
        to_np(expected) if not isinstance(expected, np.ndarray) else expected
    assert tuple(a.shape) == tuple(e.shape), f"{what}: shape {a.shape} != {e.shape}"
    r, t = TOL.get(dtype, (1e-3, 1e-3))
    np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64),
                               rtol=r if rtol is None else rtol,
                               atol=t if atol is None else atol, err_msg=what)


def compare(zfn: Callable[..., zili.Tensor], tfn: Callable[..., torch.Tensor],
            arrays: Sequence[np.ndarray], device: str, dtype: str = "float64",
            grad: Sequence[bool] | None = None, rtol: float | None = None,
            atol: float | None = None, seed: int = 0) -> None:
    """Run ``zfn`` on zili tensors and ``tfn`` on torch tensors made from ``arrays``; compare
    the outputs, then backpropagate the same random cotangent through both and compare every
    input's gradient. ``grad[i]`` False leaves input i out of differentiation."""
    grad = [np.issubdtype(a.dtype, np.floating) for a in arrays] if grad is None else grad
    zin = [zt(a, device, g) for a, g in zip(arrays, grad)]
    tin = [tt(a, g) for a, g in zip(arrays, grad)]
    zout, tout = zfn(*zin), tfn(*tin)
    assert zout.dtype.name == str(tout.dtype).removeprefix("torch."), \
        f"dtype {zout.dtype} != {tout.dtype}"
    if zout.dtype is zili.float32:  # a float64 test whose op yields float32 (a cast)
        dtype = "float32"
    assert_close(zout, tout, dtype, "forward", rtol, atol)
    if not any(grad) or not tout.requires_grad:
        return
    if not zout.requires_grad:
        # zili records no graph for piecewise-constant results (sign, comparisons); PyTorch
        # does, with zero gradients. Both mean the same thing.
        tout.backward(torch.ones_like(tout))
        assert all(t.grad is None or not t.grad.any() for t in tin), "zili lost a gradient"
        return
    rng = np.random.default_rng(seed)
    cot = rng.standard_normal(tuple(tout.shape)).astype(NP_DTYPE[dtype])
    zout.backward(zt(cot, device))
    tout.backward(tt(cot))
    for i, (z, t) in enumerate(zip(zin, tin)):
        if not grad[i]:
            continue
        if t.grad is None:
            assert z.grad is None or np.all(to_np(z.grad) == 0), f"input {i}: unexpected grad"
            continue
        assert z.grad is not None, f"input {i}: no gradient"
        assert_close(z.grad, t.grad, dtype, f"grad of input {i}", rtol, atol)


def gradcheck(fn: Callable[..., zili.Tensor], arrays: Sequence[np.ndarray], device: str,
              eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7, seed: int = 0) -> None:
    """Check zili's backward of ``fn`` against central finite differences in float64.

    Reduces the output to a scalar with fixed random weights w, so the check compares
    d(sum(w * fn(x)))/dx from autograd with (f(x + eps e_i) - f(x - eps e_i)) / 2eps for
    every element i of every input.
    """
    arrays = [np.asarray(a, np.float64) for a in arrays]
    rng = np.random.default_rng(seed)
    probe = fn(*[zt(a, device) for a in arrays])
    weights = rng.standard_normal(probe.shape)

    def scalar(values: list[np.ndarray]) -> float:
        out = fn(*[zt(v, device) for v in values]).numpy().astype(np.float64)
        return float(np.sum(out * weights))

    inputs = [zt(a, device, True) for a in arrays]
    fn(*inputs).backward(zt(weights, device))
    for k, a in enumerate(arrays):
        numeric = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            plus = [v.copy() for v in arrays]
            minus = [v.copy() for v in arrays]
            plus[k][i] += eps
            minus[k][i] -= eps
            numeric[i] = (scalar(plus) - scalar(minus)) / (2 * eps)
        analytic = np.zeros_like(a) if inputs[k].grad is None else inputs[k].grad.numpy()
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol,
                                   err_msg=f"finite-difference gradient of input {k}")


def random_shape(rng: np.random.Generator, ndim: int | None = None, low: int = 1,
                 high: int = 5) -> tuple[int, ...]:
    """A random shape with ``ndim`` axes (0..3 if None) of sizes in [low, high]."""
    ndim = int(rng.integers(0, 4)) if ndim is None else ndim
    return tuple(int(s) for s in rng.integers(low, high + 1, size=ndim))


def randn(rng: np.random.Generator, shape: tuple[int, ...], dtype: str = "float64") -> np.ndarray:
    """Standard normal values of ``shape`` as ``dtype``."""
    return np.asarray(rng.standard_normal(shape)).astype(NP_DTYPE[dtype])
