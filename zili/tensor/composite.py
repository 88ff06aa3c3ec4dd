"""Composite Tensor methods that live in the tensor layer (softmax family) and in-place ops.

They are written once in primitives, so every device runs them and the gradient comes
from the primitives' backward rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zili.tensor.autocast import full_precision

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

    # --- in place: the new values are written into the tensor's memory (zili.tensor.inplace)

    def add_(self: Tensor, other: Any, alpha: Any = 1) -> Tensor:
        """self += alpha * other, in place."""
        return self._inplace(self._snapshot(other).add(other, alpha=alpha), "add_")

    def sub_(self: Tensor, other: Any, alpha: Any = 1) -> Tensor:
        """self -= alpha * other, in place."""
        return self._inplace(self._snapshot(other).sub(other, alpha=alpha), "sub_")

    def mul_(self: Tensor, other: Any) -> Tensor:
        """self *= other, in place."""
        return self._inplace(self._snapshot(other) * other, "mul_")

    def div_(self: Tensor, other: Any) -> Tensor:
        """self /= other, in place."""
        return self._inplace(self._snapshot(other) / other, "div_")

    def clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """Clamp in place."""
        return self._inplace(self._snapshot(min, max).clamp(min, max), "clamp_")

    def copy_(self: Tensor, source: Tensor) -> Tensor:
        """Write ``source``'s values (cast and broadcast to self) into self's memory."""
        return self._inplace(source, "copy_")

    def fill_(self: Tensor, value: Any) -> Tensor:
        """Set every element to ``value``, in place."""
        if hasattr(value, "_storage"):
            if value.numel() != 1:
                raise RuntimeError(f"fill_: only supports a 0-dimension value tensor, got "
                                   f"shape {value.shape}")
            return self._inplace(value.reshape(()), "fill_")
        return self._inplace(self._scalar(value), "fill_")

    def zero_(self: Tensor) -> Tensor:
        """Set every element to zero, in place."""
        return self.fill_(0)

    def __iadd__(self: Tensor, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self: Tensor, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self: Tensor, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self: Tensor, other: Any) -> Tensor:
        return self.div_(other)
