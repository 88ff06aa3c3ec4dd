"""Views: how a tensor's elements sit in its buffer, so movement ops never copy.

A :class:`View` is (shape, strides, offset, mask). Element ``idx`` of the tensor lives at
``offset + sum(idx[d] * strides[d])`` in the buffer (strides count elements, not bytes, and
may be zero for an expanded axis or negative for a flipped one). ``mask`` is None or one
``(begin, end)`` range per axis: outside it the element is zero and the buffer is not read,
which is how ``pad`` stays free. Every movement primitive maps a View to a new View; only a
reshape that no strides can express returns None, and the caller then copies.
"""

from __future__ import annotations

from functools import lru_cache
from math import prod


@lru_cache(maxsize=4096)
def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides (in elements) for ``shape``; size-1 axes get stride 0."""
    strides = []
    step = 1
    for size in reversed(shape):
        strides.append(step if size != 1 else 0)
        step *= size
    return tuple(reversed(strides))


@lru_cache(maxsize=4096)
def contiguous_view(shape: tuple[int, ...]) -> View:
    """The plain row-major View of ``shape``, one shared object per shape (Views never
    change): every eager result needs one, and kernel caches then meet the same key."""
    return View(shape)


class View:
    """An immutable strided, optionally masked window onto a flat buffer."""

    __slots__ = ("shape", "strides", "offset", "mask", "contiguous", "_key")

    def __init__(self, shape: tuple[int, ...], strides: tuple[int, ...] | None = None,
                 offset: int = 0, mask: tuple[tuple[int, int], ...] | None = None):
        self.shape = shape
        canonical = contiguous_strides(shape)
        self.strides = canonical if strides is None else tuple(
            0 if size == 1 else stride for size, stride in zip(shape, strides))
        self.offset = offset
        self.mask = mask
        # contiguous: the view is exactly buffer[offset:offset+numel] in row-major order.
        self.contiguous = mask is None and self.strides == canonical
        self._key: tuple | None = None

    def __repr__(self) -> str:
        return f"View(shape={self.shape}, strides={self.strides}, offset={self.offset}, " \
               f"mask={self.mask})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, View) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def key(self) -> tuple:
        """A hashable description, used by kernel caches to tell views apart (made once:
        a View never changes)."""
        key = self._key
        if key is None:
            key = self._key = (self.shape, self.strides, self.offset, self.mask)
        return key

    @property
    def numel(self) -> int:
        """Number of elements the view shows."""
        return prod(self.shape)

    def buffer_span(self) -> tuple[int, int]:
        """(lowest, highest+1) buffer index this view can read, for bounds checks."""
        if self.numel == 0:
            return (self.offset, self.offset)
        ranges = self.mask or tuple((0, s) for s in self.shape)
        if any(b >= e for b, e in ranges):
            return (self.offset, self.offset)
        low = high = self.offset
        for (b, e), stride in zip(ranges, self.strides):
            a, z = b * stride, (e - 1) * stride
            low += min(a, z)
            high += max(a, z)
        return (low, high + 1)

    # --- movement -------------------------------------------------------------------------

    def permute(self, order: tuple[int, ...]) -> View:
        """Axes reordered: new axis i is old axis order[i]."""
        mask = None if self.mask is None else tuple(self.mask[i] for i in order)
        return View(tuple(self.shape[i] for i in order), tuple(self.strides[i] for i in order),
                    self.offset, mask)

    def expand(self, shape: tuple[int, ...]) -> View:
        """Size-1 axes repeated to ``shape`` by giving them stride 0."""
        mask = None
        if self.mask is not None:
            mask = tuple(m if old == new else ((0, new) if m[1] > m[0] else (0, 0))
                         for m, old, new in zip(self.mask, self.shape, shape))
        strides = tuple(st if old == new else 0
                        for st, old, new in zip(self.strides, self.shape, shape))
        return View(shape, strides, self.offset, mask)

    def shrink(self, bounds: tuple[tuple[int, int], ...]) -> View:
        """The window ``[begin, end)`` along every axis."""
        offset = self.offset + sum(b * st for (b, _), st in zip(bounds, self.strides))
        mask = None
        if self.mask is not None:
            mask = tuple((min(max(mb - b, 0), e - b), min(max(me - b, 0), e - b))
                         for (mb, me), (b, e) in zip(self.mask, bounds))
            if all(m == (0, e - b) for m, (b, e) in zip(mask, bounds)):
                mask = None
        return View(tuple(e - b for b, e in bounds), self.strides, offset, mask)

    def pad(self, padding: tuple[tuple[int, int], ...]) -> View:
        """Zeros added before/after every axis, as a mask: nothing is written."""
        if all(p == (0, 0) for p in padding):
            return self
        old_mask = self.mask or tuple((0, s) for s in self.shape)
        mask = tuple((b + lo, e + lo) for (b, e), (lo, _) in zip(old_mask, padding))
        offset = self.offset - sum(lo * st for (lo, _), st in zip(padding, self.strides))
        shape = tuple(s + lo + hi for s, (lo, hi) in zip(self.shape, padding))
        return View(shape, self.strides, offset, mask)

    def flip(self, axes: tuple[int, ...]) -> View:
        """The order of elements reversed along ``axes``."""
        strides = list(self.strides)
        offset = self.offset
        mask = None if self.mask is None else list(self.mask)
        for axis in axes:
            size = self.shape[axis]
            offset += (size - 1) * strides[axis]
            strides[axis] = -strides[axis]
            if mask is not None:
                b, e = mask[axis]
                mask[axis] = (size - e, size - b)
        return View(self.shape, tuple(strides), offset, None if mask is None else tuple(mask))

    def reshape(self, shape: tuple[int, ...]) -> View | None:
        """The same elements in row-major order under a new shape, or None if that needs a copy."""
        if shape == self.shape:
            return self
        if self.contiguous:
            return View(shape, None, self.offset)
        if self.mask is not None:
            return self._reshape_unit_axes(shape)
        strides = _reshape_strides(self.shape, self.strides, shape)
        return None if strides is None else View(shape, strides, self.offset)

    def _reshape_unit_axes(self, shape: tuple[int, ...]) -> View | None:
        # A masked view can only gain or lose size-1 axes without a copy.
        kept = [i for i, s in enumerate(self.shape) if s != 1]
        if [self.shape[i] for i in kept] != [s for s in shape if s != 1]:
            return None
        assert self.mask is not None
        if any(self.mask[i][0] >= self.mask[i][1] for i in range(len(self.shape))):
            # A 0-d view has no axis to carry an empty mask: the caller copies instead
            # (reading the masked element as the pad value).
            return View(shape, None, 0, tuple((0, 0) for _ in shape)) if shape else None
        strides, mask, source = [], [], iter(kept)
        for size in shape:
            if size == 1:
                strides.append(0)
                mask.append((0, 1))
            else:
                i = next(source)
                strides.append(self.strides[i])
                mask.append(self.mask[i])
        return View(shape, tuple(strides), self.offset, tuple(mask))


def _reshape_strides(old_shape: tuple[int, ...], old_strides: tuple[int, ...],
                     new_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """Strides for ``new_shape`` over the same memory order, or None when none exist.

    Walks both shapes in groups whose sizes multiply to the same number; inside a group the
    old axes must be laid out one after another (stride[i] == stride[i+1] * size[i+1]).
    """
    old = [(s, st) for s, st in zip(old_shape, old_strides) if s != 1]
    new_strides = [0] * len(new_shape)
    oi = ni = 0
    while ni < len(new_shape) and new_shape[ni] == 1:
        ni += 1
    while oi < len(old) and ni < len(new_shape):
        o_end, n_end = oi + 1, ni + 1
        o_size, n_size = old[oi][0], new_shape[ni]
        while o_size != n_size:
            if o_size < n_size:
                if o_end >= len(old):
                    return None
                o_size *= old[o_end][0]
                o_end += 1
            else:
                if n_end >= len(new_shape):
                    return None
                n_size *= new_shape[n_end]
                n_end += 1
        for k in range(oi, o_end - 1):
            if old[k][1] != old[k + 1][1] * old[k + 1][0]:
                return None
        stride = old[o_end - 1][1]
        for k in range(n_end - 1, ni - 1, -1):
            new_strides[k] = stride if new_shape[k] != 1 else 0
            stride *= new_shape[k]
        oi, ni = o_end, n_end
        while ni < len(new_shape) and new_shape[ni] == 1:
            ni += 1
    if oi != len(old) or any(s != 1 for s in new_shape[ni:]):
        return None
    return tuple(new_strides)
