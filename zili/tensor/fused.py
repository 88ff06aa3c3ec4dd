"""Fused replacements of composites, where a device registers one.

A device may list kernels that compute a whole composite in ``device.fused_composites``
(name -> implementation); the composite asks :func:`fused_attention` first and falls back to
its primitives when there is no replacement or the call is outside what the replacement
covers. Autograd records the fused call as one node whose backward is the device's fused
backward. The tests compare each replacement with the composition.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from zili import dtype as dtypes
from zili.compiler import capture
from zili.ops.view import View
from zili.tensor.autograd import Function

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

ATTENTION = "scaled_dot_product_attention"
_told: set[str] = set()


def _tell_once(message: str) -> None:
    """Print an intended fallback once per process (never silently)."""
    if message not in _told:
        _told.add(message)
        print(f"zili: {message}", file=sys.stderr)


class _Attention(Function):
    """softmax(q k^T * scale [causal]) v as one fused kernel, forward and backward."""

    def forward(self, q: Tensor, k: Tensor, v: Tensor, causal: bool = False,
                scale: float = 1.0, impl: Any = None) -> Tensor:
        out, lse = impl.forward((q.buffer, q._view), (k.buffer, k._view), (v.buffer, v._view),
                                causal, scale)
        self.saved = (q, k, v, out, lse, causal, scale, impl)
        shape = q.shape[:-1] + v.shape[-1:]
        return type(q)._make(out, View(shape), q.dtype, q.device)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        q, k, v, out, lse, causal, scale, impl = self.saved
        grad = grad.contiguous()
        dq, dk, dv = impl.backward((q.buffer, q._view), (k.buffer, k._view),
                                   (v.buffer, v._view), causal, scale, out, lse,
                                   (grad.buffer, grad._view.offset))
        make = type(q)._make
        return (make(dq, View(q.shape), q.dtype, q.device),
                make(dk, View(k.shape), k.dtype, k.device),
                make(dv, View(v.shape), v.dtype, v.device))


def fused_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None,
                    dropout_p: float, is_causal: bool, scale: float) -> Tensor | None:
    """The device's fused attention for this call, or None when the composite must run
    (no replacement registered, a mask other than causal, dropout, not float32, operands
    the kernel cannot read in place, or a ``zili.jit`` trace, which records primitives)."""
    impl = getattr(query.device, "fused_composites", {}).get(ATTENTION)
    if impl is None or attn_mask is not None or dropout_p > 0.0:
        return None
    if any(t.dtype is not dtypes.float32 or t.device is not query.device
           for t in (query, key, value)):
        return None
    if capture.TRACING:
        _tell_once("zili.jit records primitives, so a traced scaled_dot_product_attention "
                   "runs as the composite (products + softmax kernels), not the fused kernel")
        return None
    if not impl.supports(query._view, key._view, value._view):
        return None
    return _Attention.apply(query, key, value, causal=is_causal, scale=scale, impl=impl)
