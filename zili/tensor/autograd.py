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
    to one gradient (or None) per tensor input, using primitives only.

    The graph's edges point at the *records* of the inputs (their ``Function``, or the leaf
    tensor itself), taken when the op ran, as PyTorch's do: an input modified in place later
    gets a new record, and this op's gradient still flows into the old one. ``needs[i]``
    says whether input ``i`` required grad when the op ran. Tensors a backward rule reads
    are listed by :meth:`saved_tensors`; their version counters are recorded, and backward
    refuses to run once one of them was modified in place.
    """

    __slots__ = ("parents", "saved", "edges", "needs", "versions", "retained", "released",
                 "__weakref__")

    def __init__(self) -> None:
        self.parents: tuple[Tensor, ...] = ()
        self.retained: Any = None
        self.released = False

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        raise NotImplementedError

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        raise NotImplementedError

    def saved_tensors(self) -> tuple[Tensor, ...]:
        """The tensors ``backward`` will read (given ``needs``); none by default."""
        return ()

    @classmethod
    def apply(cls, *tensors: Tensor, **kwargs: Any) -> Tensor:
        """Run forward; record the node when some input needs a gradient."""
        # plain loops, not any(<generator>): this runs for every primitive (eager overhead)
        needed = False
        if grad_mode.enabled:
            for t in tensors:
                if t._base is not None and t._generation != t._storage.generation:
                    t._refresh()  # a view whose base was written in place since it was made
                if t.requires_grad:
                    needed = True
        fn = cls()
        out = fn.forward(*tensors, **kwargs)
        # Only floating-point results carry gradients: a comparison or an integer cast ends
        # the graph there, as in PyTorch (its output has requires_grad=False).
        if needed and out.dtype.category == 2:
            fn.parents = tensors
            fn.needs = tuple(t.requires_grad for t in tensors)
            fn.edges = tuple((t._ctx if t._ctx is not None else t) if t.requires_grad else None
                             for t in tensors)
            fn.versions = tuple((t, t._vc, t._vc.value) for t in fn.saved_tensors())
            out.requires_grad = True
            out._ctx = fn
        return out

    def check_versions(self) -> None:
        """Raise if a tensor this node saved was modified in place after it was saved.

        Raises:
            RuntimeError: PyTorch's message, naming the tensor, its version and the
                expected one.
        """
        for t, counter, seen in self.versions:
            if counter.value != seen:
                name = type(self).__name__
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: [zili.{t.dtype.name} {list(t.shape)}], which "
                    f"is saved by {name}Backward, is at version {counter.value}; expected "
                    f"version {seen} instead. Hint: the in-place operation came after "
                    f"{name}; use an out-of-place operation (x = x * 2 instead of x.mul_(2)) "
                    "or clone() the tensor before modifying it.")


def run_backward(root: Tensor, gradient: Tensor, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    Raises:
        RuntimeError: if the graph behind ``root`` was already freed by an earlier backward,
            or a tensor a backward rule needs was modified in place after it was saved.
    """
    if root._base is not None and root._generation != root._storage.generation:
        root._refresh()
    if root._ctx is None and not root.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                           "set requires_grad=True on the inputs you want gradients for")
    start = root._ctx if root._ctx is not None else root
    order = postorder([start], lambda node: [e for e in node.edges if e is not None]
                      if isinstance(node, Function) else [])
    grads: dict[int, Tensor] = {id(start): gradient}
    handed: set[int] = set()  # storages already given to a leaf as its .grad
    with set_grad_enabled(False), autocast.suspended():
        for node in reversed(order):
            grad = grads.pop(id(node), None)
            if grad is None:
                continue
            if not isinstance(node, Function):
                if grad.dtype is not node.dtype:
                    grad = grad.to(node.dtype)
                if node.grad is None:
                    node.grad = _own(grad, handed, gradient)
                else:
                    node.grad = node.grad + grad
                for hook in tuple(_POST_ACCUMULATE.get(id(node), ())):
                    hook(node)
                continue
            if node.released:
                raise RuntimeError("backward: trying to go through the graph a second time; "
                                   "its intermediate results were freed. Call "
                                   "backward(retain_graph=True) the first time if you need to.")
            retained = node.retained() if node.retained is not None else None
            if retained is not None:
                retained.grad = grad if retained.grad is None else retained.grad + grad
            node.check_versions()
            parent_grads = node.backward(grad)
            for edge, parent_grad in zip(node.edges, parent_grads):
                if parent_grad is None or edge is None:
                    continue
                key = id(edge)
                grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
            if not retain_graph:
                node.released = True


def _own(grad: Tensor, handed: set[int], gradient: Tensor) -> Tensor:
    """``grad`` as a tensor a leaf may keep as ``.grad`` and the user may modify in place:
    its own contiguous memory, not a broadcast constant, not shared with another leaf's
    gradient or with the caller's ``gradient``."""
    storage = grad._storage
    if storage.constant or not grad._view.contiguous or id(storage) in handed or \
            storage is gradient._storage:
        grad = grad.clone()
        storage = grad._storage
    handed.add(id(storage))
    return grad
