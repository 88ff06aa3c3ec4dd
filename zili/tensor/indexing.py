"""Indexing: ``x[...]`` and ``x[...] = v`` as views (ints, slices, None, ...) and GATHER
(integer and bool index tensors, strided slices)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from zili import dtype as dtypes
from zili.tensor import functions as F

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor


def index_select(x: Tensor, axis: int, index: Tensor) -> Tensor:
    """Rows of ``x`` along ``axis`` picked by the 1-D int64 ``index`` (torch.index_select).

    Raises:
        IndexError: if an index is outside the axis.
    """
    axis = x._axis(axis)
    size = x.shape[axis]
    if index.ndim != 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {index.shape}")
    if index.dtype not in (dtypes.int64, dtypes.int32):
        raise TypeError(f"index_select: index must be int64 or int32, got {index.dtype.name}")
    host = index.numpy()
    if host.size and (host.min() < 0 or host.max() >= size):
        raise IndexError(f"index_select: index {int(host.min() if host.min() < 0 else host.max())}"
                         f" is out of range for axis {axis} with size {size} (shape {x.shape});"
                         " indices must be in [0, size), as in PyTorch")
    shape = [1] * x.ndim
    shape[axis] = index.shape[0]
    target = x.shape[:axis] + (index.shape[0],) + x.shape[axis + 1:]
    return F.Gather.apply(x, index.to(dtypes.int64).reshape(shape).expand(target), axis=axis)


def _as_index_tensor(item: Any, device: Any) -> Tensor:
    from zili.tensor.creation import tensor
    from zili.tensor.tensor import Tensor
    if isinstance(item, Tensor):
        return item
    return tensor(np.asarray(item), device=device)


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]`` with NumPy/PyTorch semantics for ints, slices, None, Ellipsis, integer
    and bool index tensors (several integer indices must sit on adjacent axes).

    Raises:
        IndexError: for too many indices or an index out of range.
    """
    from zili.tensor.creation import tensor
    from zili.tensor.tensor import Tensor
    items = list(index) if isinstance(index, tuple) else [index]

    def consumed(item: Any) -> int:
        if item is None or item is Ellipsis:
            return 0
        if isinstance(item, (Tensor, np.ndarray)) and item.dtype in (dtypes.bool_, np.bool_):
            return item.ndim
        return 1
    used = sum(consumed(i) for i in items)
    if used > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim} (shape {x.shape})")
    if Ellipsis in [i for i in items if not isinstance(i, (Tensor, np.ndarray))]:
        at = next(k for k, i in enumerate(items) if i is Ellipsis)
        items[at:at + 1] = [slice(None)] * (x.ndim - used)
    axis = 0
    advanced: list[tuple[int, Tensor]] = []
    for item in items:
        if item is None:
            x = x.unsqueeze(axis)
            axis += 1
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            size = x.shape[axis]
            i = int(item) + size if item < 0 else int(item)
            if not 0 <= i < size:
                raise IndexError(f"index {item} is out of bounds for axis {axis} with size "
                                 f"{size}")
            x = x.narrow(axis, i, 1).squeeze(axis)
        elif isinstance(item, slice):
            start, stop, step = item.indices(x.shape[axis])
            if step == 1:
                x = x.narrow(axis, start, max(stop - start, 0))
            else:
                picks = np.arange(start, stop, step, dtype=np.int64)
                x = index_select(x, axis, tensor(picks, device=x.device))
            axis += 1
        else:
            picker = _as_index_tensor(item, x.device)
            if picker.dtype is dtypes.bool_:
                if picker.shape != x.shape[axis:axis + picker.ndim]:
                    raise IndexError(f"mask of shape {picker.shape} does not match axes "
                                     f"{x.shape[axis:axis + picker.ndim]} of shape {x.shape}")
                x = x.flatten(axis, axis + picker.ndim - 1) if picker.ndim > 1 else x
                picker = tensor(np.flatnonzero(picker.numpy()).astype(np.int64),
                                device=x.device)
            elif picker.dtype.is_floating_point:
                raise IndexError("tensors used as indices must be integer or bool, got "
                                 f"{picker.dtype.name}")
            advanced.append((axis, picker))
            axis += 1
    if not advanced:
        return x
    first = advanced[0][0]
    if [a for a, _ in advanced] != list(range(first, first + len(advanced))):
        raise NotImplementedError("indexing with integer tensors on non-adjacent axes is not "
                                  "supported; index one axis at a time")
    from zili.tensor.tensor import broadcast_shape
    shape = broadcast_shape(*(p.shape for _, p in advanced), op="index")
    sizes = x.shape[first:first + len(advanced)]
    linear = None
    for (a, picker), size in zip(advanced, sizes):
        picker = picker.to(dtypes.int64)
        host = picker.numpy()
        if host.size and (host.min() < -size or host.max() >= size):
            raise IndexError(f"index out of bounds for axis {a} with size {size}")
        picker = (picker < 0)._where(picker + size, picker).expand(shape)
        linear = picker if linear is None else linear * size + picker
    assert linear is not None
    merged = x.flatten(first, first + len(advanced) - 1) if len(advanced) > 1 else x
    picked = index_select(merged, first, linear.reshape(-1))
    return picked.unflatten(first, shape) if shape else picked.squeeze(first)


def _is_basic(index: Any) -> bool:
    """True when ``x[index]`` is a view (ints, unit-step slices, None, Ellipsis)."""
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        if item is None or item is Ellipsis:
            continue
        if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            continue
        if isinstance(item, slice) and item.step in (None, 1):
            continue
        return False
    return True


def setitem(x: Tensor, index: Any, value: Any) -> None:
    """``x[index] = value``, written into x's memory: x's base and every view of it see the
    new values (gradients flow to both the old x and ``value``).

    Raises:
        RuntimeError: when x (or the tensor it views) is a leaf that requires grad while
            autograd records (as PyTorch does).
    """
    from zili.tensor.creation import arange
    from zili.tensor.inplace import check_writable, write
    from zili.tensor.tensor import Tensor
    check_writable(x, "setitem")
    if _is_basic(index):
        write(getitem(x, index), value, "setitem")
        return
    count = math.prod(x.shape)
    positions = getitem(arange(count, device=x.device).reshape(x.shape), index)
    if not isinstance(value, Tensor):
        value = x._scalar(value)
    old = x._snapshot(value)
    value = value.to(x.dtype).expand(positions.shape).reshape(-1)
    flat_positions = positions.reshape(-1)
    host = flat_positions.numpy()
    if np.unique(host).size != host.size:
        # A repeated position is written once, by its last value, as in NumPy; adding the
        # repeats up (what SCATTER_ADD alone does) would be wrong.
        from zili.tensor.creation import tensor
        last = host.size - 1 - np.unique(host[::-1], return_index=True)[1]
        keep = tensor(np.sort(last).astype(np.int64), device=x.device)
        flat_positions, value = index_select(flat_positions, 0, keep), index_select(value, 0, keep)
    scattered = F.ScatterAdd.apply(flat_positions, value, axis=0, shape=(count,))
    hit = F.ScatterAdd.apply(flat_positions, x._scalar(1, dtypes.int32).expand(
        flat_positions.shape), axis=0, shape=(count,)) > 0
    write(x, hit._where(scattered, old.reshape(-1)).reshape(x.shape), "setitem")
