"""In-place writes with PyTorch's semantics: the new values go into the tensor's memory, so
its base and every other view of the same storage see them, and autograd keeps correct
gradients.

:func:`write` is the one way in-place operations (``add_``, ``copy_``, ``x[i] = v`` ...)
change memory. It writes through the device's ``assign`` (or, while ``zili.jit`` traces, the
tracer's), bumps the version counter (so backward refuses tensors saved before the write),
and when autograd is recording rewrites the history:

* a base tensor written as a whole takes the value's record;
* a write through a view makes the base's record :class:`WriteView` (old base and value);
* every other view of the storage is then *stale*: before it is next used by an autograd
  op it re-derives its record from the base (:class:`ViewOf`), as PyTorch regenerates a
  view's ``grad_fn`` after its base changed.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from zili import dtype as dtypes
from zili.compiler import capture
from zili.devices.numpy import read
from zili.ops import Op
from zili.ops.view import View
from zili.tensor import functions as F
from zili.tensor.autograd import Function, grad_mode

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor


def write_raw(target: Tensor, value: Tensor) -> None:
    """Store ``value`` (same shape, dtype and device) into ``target``'s memory; bump the
    version counter. No autograd bookkeeping.

    Raises:
        ValueError: from the device, for a padded view or one that repeats elements.
    """
    if target._storage.constant:
        raise RuntimeError("in-place write into a broadcast constant; clone() the tensor "
                           "before modifying it")
    storage = target._storage
    if capture.TRACING:
        # Traced writes are values (a new node per write): borrowers keep the old node.
        capture.TRACING[-1].assign(target, value)
    else:
        if storage.lender is not None or storage.borrowers:
            storage.separate(lambda buffer: _copy_buffer(target, buffer))
        target.device.assign(target.buffer, target._view, target.dtype,
                             (value.buffer, value._view, value.dtype))
    target._vc.value += 1


def _copy_buffer(like: Tensor, buffer: Any) -> Any:
    """A private copy of a whole flat buffer (copy-on-write of a flip/pad result)."""
    count = len(buffer)
    view = View((count,))
    return like.device.execute(Op.COPY, (count,), like.dtype, [(buffer, view, like.dtype)])


def check_writable(target: Tensor, op: str) -> None:
    """Refuse an in-place op on a leaf that requires grad (or a view of one) while autograd
    records, as PyTorch does.

    Raises:
        RuntimeError: naming the op and the remedy.
    """
    if not grad_mode.enabled:
        return
    if target._ctx is None and target.requires_grad and target._base is None:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad is used in an in-place "
                           "operation; wrap it in zili.no_grad() or use .data")
    base = target._base
    if base is not None and base._ctx is None and base.requires_grad:
        raise RuntimeError(f"{op}: a view of a leaf tensor that requires grad is being used "
                           "in an in-place operation; wrap it in zili.no_grad() or use .data")


def write(target: Tensor, value: Any, op: str = "in-place") -> Tensor:
    """``target`` takes ``value`` (a tensor or number, cast to its dtype and broadcast to its
    shape) in its own memory; returns ``target``.

    Raises:
        RuntimeError: for a leaf (or a view of a leaf) that requires grad while autograd
            records.
        ValueError: if ``value`` does not broadcast to ``target``'s shape, or ``target``
            is a padded or expanded (repeating) view.
    """
    check_writable(target, op)
    if not hasattr(value, "_storage"):
        value = target._scalar(value)
    if value.device is not target.device:
        value = value.detach().to(device=target.device)
    if value.dtype is not target.dtype:
        value = value.to(target.dtype)
    if value.shape != target.shape:
        value = value.expand(target.shape)
    base = target._base
    recording = grad_mode.enabled and (value.requires_grad or target.requires_grad or
                                       (base is not None and base.requires_grad))
    if recording and base is not None and target._generation != target._storage.generation:
        target._refresh()
    positions = None
    if recording and base is not None and not (base._view.contiguous and
                                               base._view.offset == 0):
        positions = _base_positions(base, target._view)
    if recording and base is None and not value.requires_grad:
        # The old history gets a zero gradient (as PyTorch's fill_ does), not none at all.
        keep = target._share(target._view, None, target._vc)
        keep.requires_grad, keep._ctx = target.requires_grad, target._ctx
        value = F.Where.apply(target._scalar(False, dtypes.bool_, target.shape), keep, value)
    old_base = None
    if recording and base is not None:
        old_base = base._share(base._view, None, base._vc)
        old_base.requires_grad, old_base._ctx = base.requires_grad, base._ctx
    write_raw(target, value)
    if not recording:
        return target
    storage = target._storage
    storage.generation += 1
    if base is None:
        if value._ctx is None:  # a leaf: the target's record must still lead to it
            value = F.Expand.apply(value, shape=value.shape)
        target._ctx, target.requires_grad = value._ctx, True
        target._generation = storage.generation
        if target._retains_grad and value._ctx is not None:
            value._ctx.retained = weakref.ref(target)
        return target
    out = WriteView.apply(old_base, value, view=target._view, positions=positions)
    base._ctx, base.requires_grad = out._ctx, True
    base._generation = storage.generation
    return target


def _base_positions(base: Tensor, view: View) -> np.ndarray:
    """For every element ``view`` addresses, its flat index in ``base`` (whose own View of
    the buffer is strided, flipped or padded: a flip or pad result), computed on the host."""
    buffer = base.buffer
    count = len(buffer) if hasattr(buffer, "__len__") else int(np.prod(buffer.shape))
    where = np.arange(1, count + 1, dtype=np.int64)  # +1: padding reads 0
    index = np.full(count, -1, dtype=np.int64)
    seen = read(where, base._view).reshape(-1)
    inside = seen > 0
    index[seen[inside] - 1] = np.flatnonzero(inside)
    picked = index[read(np.arange(count, dtype=np.int64), view).reshape(-1)]
    if picked.size and picked.min() < 0:
        raise RuntimeError("in-place write through a view that reaches memory its base does "
                           "not show; clone() the base first")
    return picked


def refresh(view: Tensor) -> None:
    """Give a stale view (its base was written in place since it was made) a record derived
    from the base's current one."""
    base = view._base
    view._generation = view._storage.generation
    if base is not None and base.requires_grad:
        derived = ViewOf.apply(base, view=view._view)
        view._ctx, view.requires_grad = derived._ctx, True


class WriteView(Function):
    """The base after ``value`` was stored through ``view`` (a View of the base's storage).

    ``forward`` computes nothing: :func:`write` has already stored the value; it returns a
    tensor over the same memory. The gradient of the old base is the incoming gradient with
    the written positions zeroed; the value's is the incoming gradient read through the view.
    """

    def forward(self, base: Tensor, value: Tensor, view: View,
                positions: np.ndarray | None = None) -> Tensor:
        self.saved = (view, positions)
        return base._share(base._view, None, base._vc)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        view, positions = self.saved
        if positions is not None:  # a strided/flipped/padded base: index tables
            return self._backward_by_index(grad, view, positions)
        flat = grad.contiguous()
        at = View(view.shape, view.strides, view.offset + flat._view.offset)
        grad_value = flat._share(at, None, flat._vc) if self.needs[1] else None
        grad_base = None
        if self.needs[0]:
            grad_base = grad.clone()
            write_raw(grad_base._share(view, None, grad_base._vc),
                      grad._scalar(0, shape=view.shape))
        return (grad_base, grad_value)


    def _backward_by_index(self, grad: Tensor, view: View,
                           positions: np.ndarray) -> tuple[Tensor | None, ...]:
        device, count = grad.device, grad.numel()
        flat = grad.reshape(-1)
        index = grad._make(device.from_numpy(positions), View((positions.size,)),
                           dtypes.int64, device)
        grad_value = F._run(Op.GATHER, (positions.size,), grad.dtype, (flat, index), 0) \
            .reshape(view.shape) if self.needs[1] else None
        grad_base = None
        if self.needs[0]:
            hit = np.zeros(count, np.bool_)
            hit[positions] = True
            mask = grad._make(device.from_numpy(hit), View((count,)), dtypes.bool_, device)
            grad_base = mask._where(0.0, flat).reshape(grad.shape)
        return (grad_base, grad_value)


class ViewOf(Function):
    """``base`` seen through an arbitrary View of its storage: how a stale view re-derives
    its record. The gradient goes back to the positions the view reads (added up where the
    view repeats an element, dropped where it is padding)."""

    def forward(self, base: Tensor, view: View) -> Tensor:
        self.saved = (base.shape, view)
        return base._share(view, base, base._vc)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        shape, view = self.saved
        count = 1
        for s in shape:
            count *= s
        repeats = any(size > 1 and stride == 0 for size, stride in zip(view.shape, view.strides))
        if view.mask is None and not repeats:
            out = grad._scalar(0, shape=(count,)).clone()
            write_raw(out._share(view, None, out._vc), grad)
            return (out.reshape(shape),)
        device = grad.device
        positions = grad._make(device.from_numpy(np.arange(count, dtype=np.int64)),
                               View((count,)), dtypes.int64, device)
        inside = grad._make(device.from_numpy(np.ones(count, grad.dtype.numpy)),
                            View((count,)), grad.dtype, device)
        picked = positions._share(view, None, positions._vc).contiguous().reshape(-1)
        values = (grad * inside._share(view, None, inside._vc)).contiguous().reshape(-1)
        out = F._run(Op.SCATTER_ADD, (count,), grad.dtype, (picked, values), 0)
        return (out.reshape(shape),)
