"""Reverse-mode autograd: the Function record each op leaves behind, and the backward walk.

Only primitives have backward rules (``zili.tensor.functions``); composites get their
gradients by being built from primitives. The graph is freed as ``backward`` walks it.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from zili.graph import postorder
from zili.tensor import autocast

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor


class _GradMode(threading.local):
    enabled = True


grad_mode = _GradMode()

# id(leaf tensor) -> hooks called after backward accumulated the leaf's .grad (kept here,
# not on the tensor, so Tensor's slots stay as they are; entries leave with the tensor).
_POST_ACCUMULATE: dict[int, list[Callable[[Any], None]]] = {}


class RemovableHandle:
    """What ``register_post_accumulate_grad_hook`` returns: ``remove()`` unregisters."""

    def __init__(self, key: int, hook: Callable[[Any], None]) -> None:
        self.key, self.hook = key, hook

    def remove(self) -> None:
        """Unregister the hook (a no-op when already removed)."""
        hooks = _POST_ACCUMULATE.get(self.key, [])
        if self.hook in hooks:
            hooks.remove(self.hook)


def register_post_accumulate_grad_hook(tensor: Any, hook: Callable[[Any], None]
                                       ) -> RemovableHandle:
    """Call ``hook(tensor)`` each time backward has finished accumulating ``tensor.grad``
    (``torch.Tensor.register_post_accumulate_grad_hook``); data-parallel training starts
    sending a gradient bucket from it.

    Raises:
        RuntimeError: ``tensor`` is not a leaf that requires grad.
    """
    if not tensor.requires_grad or tensor._ctx is not None:
        raise RuntimeError("register_post_accumulate_grad_hook: only a leaf tensor that "
                           "requires grad accumulates a gradient")
    key = id(tensor)
    if key not in _POST_ACCUMULATE:
        _POST_ACCUMULATE[key] = []
        weakref.finalize(tensor, _POST_ACCUMULATE.pop, key, None)
    _POST_ACCUMULATE[key].append(hook)
    return RemovableHandle(key, hook)


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()``."""
    return grad_mode.enabled


@contextlib.contextmanager
def set_grad_enabled(enabled: bool) -> Iterator[None]:
    """Context manager that turns gradient recording on or off inside its block."""
    previous = grad_mode.enabled
    grad_mode.enabled = enabled
    try:
        yield
    finally:
        grad_mode.enabled = previous


class no_grad(contextlib.ContextDecorator):  # noqa: N801 (PyTorch's name)
    """Context manager and decorator: no graph is recorded inside, as in ``torch.no_grad``."""

    def __enter__(self) -> None:
        self._previous = grad_mode.enabled
        grad_mode.enabled = False

    def __exit__(self, *exc: object) -> None:
        grad_mode.enabled = self._previous


class Function:
    """One recorded primitive: ``forward`` computes, ``backward`` maps the output's gradient
    to one gradient (or None) per tensor input, using primitives only."""

    __slots__ = ("parents", "saved")

    def __init__(self) -> None:
        self.parents: tuple[Tensor, ...] = ()

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        raise NotImplementedError

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        raise NotImplementedError

    @classmethod
    def apply(cls, *tensors: Tensor, **kwargs: Any) -> Tensor:
        """Run forward; record the node when some input needs a gradient."""
        fn = cls()
        out = fn.forward(*tensors, **kwargs)
        # Only floating-point results carry gradients: a comparison or an integer cast ends
        # the graph there, as in PyTorch (its output has requires_grad=False).
        if grad_mode.enabled and out.dtype.is_floating_point and \
                any(t.requires_grad for t in tensors):
            fn.parents = tensors
            out.requires_grad = True
            out._ctx = fn
        return out


class _Freed(Function):
    """Stands where a node's record was, after backward freed it."""

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        raise RuntimeError("backward: trying to go through the graph a second time; its "
                           "intermediate results were freed. Call backward(retain_graph=True) "
                           "the first time if you need to.")


FREED = _Freed()


def run_backward(root: Tensor, gradient: Tensor, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    Raises:
        RuntimeError: if the graph behind ``root`` was already freed by an earlier backward.
    """
    if root._ctx is None and not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                           "set requires_grad=True on the inputs you want gradients for")
    order = postorder([root], lambda node: [] if node._ctx is None else
                      [p for p in node._ctx.parents if p.requires_grad])
    grads: dict[int, Tensor] = {id(root): gradient}
    with set_grad_enabled(False), autocast.suspended():
        for node in reversed(order):
            grad = grads.pop(id(node), None)
            if grad is None:
                continue
            ctx = node._ctx
            if ctx is None:
                if grad.dtype is not node.dtype:
                    grad = grad.to(node.dtype)
                node.grad = grad if node.grad is None else node.grad + grad
                for hook in tuple(_POST_ACCUMULATE.get(id(node), ())):
                    hook(node)
                continue
            if node._retains_grad:
                node.grad = grad if node.grad is None else node.grad + grad
            parent_grads = ctx.backward(grad)
            for parent, parent_grad in zip(ctx.parents, parent_grads):
                if parent_grad is None or not parent.requires_grad:
                    continue
                key = id(parent)
                grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
            if not retain_graph:
                node._ctx = FREED
