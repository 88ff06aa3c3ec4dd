"""Composite Tensor methods that live in the tensor layer (softmax family) and in-place ops.

They are written once in primitives, so every device runs them and the gradient comes
from the primitives' backward rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zili.tensor.autocast import full_precision
from zili.tensor.autograd import grad_mode

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor


class CompositeOps:
    """Mixed into Tensor."""

    __slots__ = ()

    def softmax(self: Tensor, dim: int = -1) -> Tensor:
        """exp(x) / sum(exp(x)) along ``dim``, shifted by the maximum for stability."""
        if self.numel() == 0:  # nothing to normalise (an empty axis has no maximum)
            return self * 1
        (x,) = full_precision(self)  # autocast: softmax in float32
        shifted = x - x.detach().amax(dim, keepdim=True)
        e = shifted.exp()
        return e / e.sum(dim, keepdim=True)

    def log_softmax(self: Tensor, dim: int = -1) -> Tensor:
        """log(softmax(x)) along ``dim``, computed stably."""
        if self.numel() == 0:
            return self * 1
        (x,) = full_precision(self)  # autocast: log-softmax in float32
        shifted = x - x.detach().amax(dim, keepdim=True)
        return shifted - shifted.exp().sum(dim, keepdim=True).log()

    # --- in place: the tensor takes the new value (its old buffer is not written) ----------

    def _inplace(self: Tensor, value: Tensor) -> Tensor:
        if self.is_leaf and self.requires_grad and grad_mode.enabled:
            raise RuntimeError("a leaf tensor that requires grad is used in an in-place "
                               "operation; wrap it in zili.no_grad()")
        self._assign(value.expand(self.shape) if value.shape != self.shape else value)
        return self

    def add_(self: Tensor, other: Any, alpha: Any = 1) -> Tensor:
        """self += alpha * other."""
        return self._inplace(self._snapshot().add(other, alpha=alpha))

    def sub_(self: Tensor, other: Any, alpha: Any = 1) -> Tensor:
        """self -= alpha * other."""
        return self._inplace(self._snapshot().sub(other, alpha=alpha))

    def mul_(self: Tensor, other: Any) -> Tensor:
        """self *= other."""
        return self._inplace(self._snapshot() * other)

    def div_(self: Tensor, other: Any) -> Tensor:
        """self /= other."""
        return self._inplace(self._snapshot() / other)

    def clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """Clamp in place."""
        return self._inplace(self._snapshot().clamp(min, max))

    def copy_(self: Tensor, source: Tensor) -> Tensor:
        """Take ``source``'s values (cast and broadcast to self)."""
        return self._inplace(source.to(device=self.device, dtype=self.dtype))

    def fill_(self: Tensor, value: Any) -> Tensor:
        """Set every element to ``value``."""
        from zili.tensor.creation import full
        return self._inplace(full(self.shape, value, dtype=self.dtype, device=self.device))

    def zero_(self: Tensor) -> Tensor:
        """Set every element to zero."""
        return self.fill_(0)

    def __iadd__(self: Tensor, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self: Tensor, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self: Tensor, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self: Tensor, other: Any) -> Tensor:
        return self.div_(other)
