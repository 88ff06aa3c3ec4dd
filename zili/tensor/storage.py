"""What tensors share: a :class:`Storage` (the device buffer all views of it read and write)
and a :class:`VersionCounter` (how many in-place writes it has seen).

PyTorch's memory semantics: a view (reshape, slice, transpose, ``detach()``) shares its base's
storage and version counter, so an in-place write through any of them changes what all of
them read, and a tensor saved for backward can tell that it was overwritten since.
``Tensor.data`` shares the storage but gets a fresh counter, as in PyTorch, so that writes
through ``.data`` (optimizer updates) are invisible to autograd's checks.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any


class Storage:
    """A device buffer shared by a tensor and all its views.

    ``buffer`` is the device's buffer (while ``zili.jit`` traces, a graph node standing for
    the buffer's current contents). ``generation`` counts in-place writes that changed the
    autograd history of the memory: a view whose own record is older re-derives its history
    from its base before it is used (see ``zili.tensor.inplace``). ``constant`` marks the
    cached scalar buffers the tensor layer shares between unrelated tensors: they are never
    written.
    """

    __slots__ = ("buffer", "generation", "constant", "lender", "borrowers", "__weakref__")

    def __init__(self, buffer: Any, constant: bool = False):
        self.buffer = buffer
        self.generation = 0
        self.constant = constant
        # Copy-on-write: flip() and pad() are views in zili but copies in PyTorch. Their
        # result *borrows* the buffer (``lender`` is the storage that owns it) until either
        # side is written; then the borrower gets its own copy first (see ``separate``).
        self.lender: Storage | None = None
        self.borrowers: list[Any] | None = None

    def borrow(self) -> Storage:
        """A new storage reading this one's buffer until either of them is written."""
        lender = self.lender if self.lender is not None else self
        out = Storage(self.buffer, self.constant)
        out.lender = lender
        if lender.borrowers is None:
            lender.borrowers = []
        lender.borrowers.append(weakref.ref(out))
        return out

    def separate(self, copy: Callable[[Any], Any]) -> None:
        """Before this storage is written: if it borrows, take a private ``copy`` of the
        buffer; if others borrow from it, give each of them a private copy."""
        lender = self.lender
        if lender is not None:
            self.lender = None
            if self.buffer is lender.buffer:
                self.buffer = copy(self.buffer)
        if self.borrowers:
            for ref in self.borrowers:
                other = ref()
                if other is not None and other.lender is self and other.buffer is self.buffer:
                    other.buffer = copy(other.buffer)
                    other.lender = None
            self.borrowers = None


class VersionCounter:
    """How many times the memory behind a tensor was modified in place (``t._version``)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0
