"""Gradient utilities: clipping by global norm or by value, as ``torch.nn.utils``."""

from __future__ import annotations

import math
from collections.abc import Iterable

from zili.tensor import Tensor, no_grad, zeros


def _with_grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def get_total_norm(tensors: Iterable[Tensor], norm_type: float = 2.0) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` taken together, as a 0-d tensor."""
    tensors = list(tensors)
    if not tensors:
        return zeros(())
    with no_grad():
        if math.isinf(norm_type):
            parts = [t.abs().amax() for t in tensors]
            total = parts[0]
            for part in parts[1:]:
                total = total.maximum(part.to(total.dtype))
            return total
        total = None
        for t in tensors:
            t = t.float() if t.dtype.itemsize < 4 else t
            part = (t * t).sum() if norm_type == 2.0 else (t.abs() ** norm_type).sum()
            total = part if total is None else total + part.to(total.dtype)
        assert total is not None
        return total.sqrt() if norm_type == 2.0 else total ** (1.0 / norm_type)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so their joint ``norm_type``-norm is at most
    ``max_norm``; returns the norm before clipping (a 0-d tensor), as PyTorch.

    Raises:
        RuntimeError: if ``error_if_nonfinite`` and the norm is NaN or infinite.
    """
    params = _with_grads(parameters)
    if not params:
        return zeros(())
    total = get_total_norm([p.grad for p in params], norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           "gradients is non-finite, so it cannot be clipped; pass "
                           "error_if_nonfinite=False to skip this check")
    with no_grad():
        # Always multiply by the clamped coefficient (no host sync on the norm's value).
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for p in params:
            p.grad = p.grad * coef.to(p.grad.dtype)
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value]."""
    with no_grad():
        for p in _with_grads(parameters):
            p.grad = p.grad.clamp(-clip_value, clip_value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and joined into one 1-D tensor."""
    from zili.tensor import cat
    return cat([p.reshape(-1) for p in parameters])
