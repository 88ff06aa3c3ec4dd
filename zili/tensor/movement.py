"""Movement methods of Tensor: views (reshape, permute, expand, shrink, pad, flip) and the
shapes built from them (transpose, squeeze, cat, stack, split ...). Nothing here computes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zili import dtype as dtypes
from zili.errors import ArgumentError, ShapeError
from zili.tensor import functions as F

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor


def _shape_arg(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if type(s) is not int:  # NumPy integers, 0-d tensors ...: convert them all
            return tuple(int(s) for s in shape)
    return shape  # already a tuple of ints (the common case, without a generator's cost)


def check_sizes(shape: tuple[int, ...], op: str, infer: bool = True) -> None:
    """Refuse negative sizes (one -1 is allowed where ``infer`` says a size is inferred).

    Raises:
        ShapeError: (a ValueError and RuntimeError) naming the operation and the shape.
    """
    if any(s < -1 or (s == -1 and not infer) for s in shape) or shape.count(-1) > 1:
        allowed = "only one dimension can be -1 (inferred); " if infer else ""
        raise ShapeError(f"{op}: invalid shape {shape}: {allowed}sizes must not be negative")


class MovementOps:
    """Mixed into Tensor."""

    __slots__ = ()

    def reshape(self: Tensor, *shape: Any) -> Tensor:
        """The same elements in a new shape (one axis may be -1); a view when strides allow.

        Raises:
            ValueError: if the element counts differ.
        """
        shape = _shape_arg(shape)
        check_sizes(shape, "reshape")
        if -1 in shape:
            known = math.prod(s for s in shape if s != -1)
            if shape.count(-1) > 1 or known == 0 or self.numel() % known:
                raise ShapeError(f"reshape: cannot infer -1 in {shape} for a tensor of shape "
                                 f"{self.shape} ({self.numel()} elements)")
            shape = tuple(self.numel() // known if s == -1 else s for s in shape)
        if math.prod(shape) != self.numel():
            raise ShapeError(f"reshape: shape {shape} has {math.prod(shape)} elements but the "
                             f"tensor of shape {self.shape} has {self.numel()}")
        if shape == self.shape:
            return self
        return F.Reshape.apply(self, shape=shape)

    view = reshape

    def permute(self: Tensor, *order: Any) -> Tensor:
        """Axes reordered: output axis i is input axis order[i].

        Raises:
            ValueError: if ``order`` is not a permutation of the axes.
        """
        order = tuple(self._axis(a) for a in _shape_arg(order))
        if sorted(order) != list(range(self.ndim)):
            raise ShapeError(f"permute: {order} is not a permutation of {self.ndim} axes")
        if order == tuple(range(self.ndim)):
            return self
        return F.Permute.apply(self, order=order)

    def transpose(self: Tensor, dim0: int, dim1: int) -> Tensor:
        """Axes ``dim0`` and ``dim1`` swapped."""
        order = list(range(self.ndim))
        a, b = self._axis(dim0), self._axis(dim1)
        order[a], order[b] = order[b], order[a]
        return self.permute(tuple(order))

    def t(self: Tensor) -> Tensor:
        """Transpose of a matrix (tensors of up to two axes)."""
        if self.ndim > 2:
            raise ValueError(f"t(): expects at most 2 dimensions, got shape {self.shape}")
        return self.permute(tuple(reversed(range(self.ndim))))

    def expand(self: Tensor, *shape: Any) -> Tensor:
        """Size-1 axes repeated (as stride 0) to ``shape``; -1 keeps an axis; new axes in front.

        Raises:
            ValueError: if an axis of size other than 1 would change.
        """
        shape = _shape_arg(shape)
        if shape == self.shape:
            return self
        if len(shape) < self.ndim:
            raise ShapeError(f"expand: target shape {shape} has fewer axes than {self.shape}")
        lead = len(shape) - self.ndim
        if any(s == -1 for s in shape[:lead]):
            raise ShapeError(f"expand: -1 is not allowed for the new leading axes of {shape}")
        padded = (1,) * lead + self.shape
        shape = tuple(old if new == -1 else new for old, new in zip(padded, shape))
        check_sizes(shape, "expand", infer=False)
        for old, new in zip(padded, shape):
            if old != new and old != 1:
                raise ShapeError(f"expand: the tensor of shape {self.shape} cannot expand to "
                                 f"{shape}; only size-1 axes can grow")
        if padded == shape:
            return self.reshape(shape) if shape != self.shape else self
        return F.Expand.apply(self, shape=shape)

    def expand_as(self: Tensor, other: Tensor) -> Tensor:
        """Expanded to ``other``'s shape."""
        return self.expand(other.shape)

    def broadcast_to(self: Tensor, shape: Sequence[int]) -> Tensor:
        """Expanded to ``shape`` by broadcasting rules."""
        return self.expand(tuple(shape))

    def shrink(self: Tensor, bounds: Sequence[tuple[int, int]]) -> Tensor:
        """The window [begin, end) on every axis (the SHRINK primitive)."""
        bounds = tuple((int(b), int(e)) for b, e in bounds)
        if len(bounds) != self.ndim:
            raise ShapeError(f"shrink: {len(bounds)} bounds for a tensor of shape {self.shape}")
        if all(b == 0 and e == s for (b, e), s in zip(bounds, self.shape)):
            return self
        for (b, e), s in zip(bounds, self.shape):
            if not 0 <= b <= e <= s:
                raise IndexError(f"shrink: bounds {bounds} do not fit shape {self.shape}")
        return F.Shrink.apply(self, bounds=bounds)

    def pad_axes(self: Tensor, padding: Sequence[tuple[int, int]]) -> Tensor:
        """Zeros before/after every axis (the PAD primitive); negative amounts crop."""
        padding = tuple((int(a), int(b)) for a, b in padding)
        if len(padding) != self.ndim:
            raise ShapeError(f"pad: {len(padding)} pairs for a tensor of shape {self.shape}")
        if any(a < 0 or b < 0 for a, b in padding):
            crop = tuple((max(-a, 0), s - max(-b, 0)) for (a, b), s in zip(padding, self.shape))
            return self.shrink(crop).pad_axes(tuple((max(a, 0), max(b, 0)) for a, b in padding))
        if all(p == (0, 0) for p in padding):
            return self
        return F.Pad.apply(self, padding=padding)

    def flip(self: Tensor, *dims: Any) -> Tensor:
        """Elements in reverse order along ``dims``."""
        dtypes.check_supported("flip", self.dtype)
        axes = tuple(self._axis(d) for d in _shape_arg(dims))
        if len(set(axes)) != len(axes):
            raise ArgumentError(f"flip: dims {_shape_arg(dims)} name an axis twice (shape "
                             f"{self.shape}); list each axis once")
        return F.Flip.apply(self, axes=axes) if axes else self

    def unsqueeze(self: Tensor, dim: int) -> Tensor:
        """A new size-1 axis at ``dim``."""
        dim = self._axis(dim, self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
        """Size-1 axes removed (all, or only those in ``dim``)."""
        axes = self._axes(dim)
        return self.reshape(tuple(s for i, s in enumerate(self.shape)
                                  if not (i in axes and s == 1)))

    def flatten(self: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Axes start_dim..end_dim merged into one."""
        if self.ndim == 0:
            return self.reshape(1)
        a, b = self._axis(start_dim), self._axis(end_dim)
        return self.reshape(self.shape[:a] + (math.prod(self.shape[a:b + 1]),)
                            + self.shape[b + 1:])

    def unflatten(self: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
        """Axis ``dim`` split into ``sizes``."""
        dim = self._axis(dim)
        return self.reshape(self.shape[:dim] + tuple(sizes) + self.shape[dim + 1:])

    def contiguous(self: Tensor) -> Tensor:
        """A tensor whose elements lie in row-major order in their own buffer."""
        return self if self._view.contiguous else F.Copy.apply(self)

    def clone(self: Tensor) -> Tensor:
        """A copy with its own buffer (gradients flow through)."""
        return F.Copy.apply(self)

    def narrow(self: Tensor, dim: int, start: int, length: int) -> Tensor:
        """Elements start..start+length along ``dim``."""
        dim = self._axis(dim)
        return self.shrink(tuple((start, start + length) if i == dim else (0, s)
                                 for i, s in enumerate(self.shape)))

    def split(self: Tensor, split_size: int | Sequence[int], dim: int = 0) -> list[Tensor]:
        """Pieces of ``split_size`` (or the listed sizes) along ``dim``."""
        dim = self._axis(dim)
        size = self.shape[dim]
        if isinstance(split_size, int) and split_size <= 0 or \
                not isinstance(split_size, int) and any(int(v) < 0 for v in split_size):
            raise ShapeError(f"split: sizes must be positive, got {split_size}")
        sizes = [split_size] * (size // split_size) + ([size % split_size] if size % split_size
                                                       else []) \
            if isinstance(split_size, int) else list(split_size)
        if sum(sizes) != size:
            raise ShapeError(f"split: sizes {sizes} do not add up to {size} (axis {dim})")
        out, start = [], 0
        for s in sizes:
            out.append(self.narrow(dim, start, s))
            start += s
        return out

    def chunk(self: Tensor, chunks: int, dim: int = 0) -> list[Tensor]:
        """``chunks`` nearly equal pieces along ``dim``."""
        size = self.shape[self._axis(dim)]
        return self.split(max(1, -(-size // chunks)), dim)

    def unbind(self: Tensor, dim: int = 0) -> list[Tensor]:
        """The slices along ``dim``, with that axis removed."""
        return [p.squeeze(dim) for p in self.split(1, dim)]

    def repeat(self: Tensor, *repeats: Any) -> Tensor:
        """Tiled ``repeats`` times along each axis (copies through expand + reshape)."""
        repeats = _shape_arg(repeats)
        check_sizes(repeats, "repeat", infer=False)
        if len(repeats) < self.ndim:
            raise ShapeError(f"repeat: {len(repeats)} repeats for a tensor of shape "
                             f"{self.shape}; give at least one per axis")
        x = self.reshape((1,) * (len(repeats) - self.ndim) + self.shape)
        expanded = x.reshape(tuple(v for s in x.shape for v in (1, s))).expand(
            tuple(v for r, s in zip(repeats, x.shape) for v in (r, s)))
        out = expanded.reshape(tuple(r * s for r, s in zip(repeats, x.shape)))
        return out.clone() if out._storage is self._storage else out  # never a view


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Tensors joined along ``dim`` (each padded to the full size, then summed).

    Raises:
        ValueError: if the list is empty or the other axes differ.
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    dim = first._axis(dim)
    for t in tensors:
        if t.ndim != first.ndim or any(a != b for i, (a, b) in
                                       enumerate(zip(t.shape, first.shape)) if i != dim):
            raise ShapeError(f"cat: shapes {[x.shape for x in tensors]} differ outside axis "
                             f"{dim}")
    if len(tensors) == 1:
        return first.clone()  # a new tensor, as in PyTorch
    total = sum(t.shape[dim] for t in tensors)
    out, start = None, 0
    for t in tensors:
        padding = tuple((start, total - start - t.shape[dim]) if i == dim else (0, 0)
                        for i in range(first.ndim))
        piece = t.pad_axes(padding)
        # the pieces are disjoint and zero elsewhere; | joins the types that have no + (uint32)
        out = piece if out is None else out | piece if piece.dtype in dtypes.LIMITED \
            else out + piece
        start += t.shape[dim]
    assert out is not None
    return out


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Tensors of one shape joined along a new axis ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ShapeError(f"stack: all tensors must have one shape, got "
                         f"{[t.shape for t in tensors]}")
    dim = tensors[0]._axis(dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(dim) for t in tensors], dim)
