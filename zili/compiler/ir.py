"""The kernel IR: a loop nest over one iteration shape, with expressions as small trees.

A :class:`Kernel` iterates over ``shape``. Axes in ``reduce_axes`` are *inner* axes; the
others are *kept* (outer) axes, one loop each. For every point of the kept axes (a "row")
the kernel runs its :class:`Stage` list in order:

* ``reduce``: an accumulator folds ``value`` over the inner axes (SUM or AMAX);
* ``row``: stores ``value`` once per row (it may use the accumulators of earlier stages);
* ``full``: stores ``value`` at every point of the inner axes (elementwise work after a
  reduction, or a plain elementwise kernel when there are no inner axes).

Expressions (:class:`UOp`) read buffers only through ``load`` nodes carrying a
:class:`~zili.ops.view.View` over the iteration shape (strides, offset, mask), so movement
never copies. Stores write their buffer contiguously: ``full`` stores in ``shape``, ``row``
stores in ``shape`` with the inner axes set to 1. Devices never see this module: a renderer
turns a Kernel into source text for one dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zili.dtype import DType
from zili.graph import postorder
from zili.ops import Op
from zili.ops.view import View, contiguous_strides


class UOp:
    """One expression node.

    ``kind`` is one of: ``load`` (arg = (buffer index, View)), ``const`` (arg = value),
    ``alu`` (arg = an elementwise :class:`Op`; WHERE takes three sources), ``cast`` (to
    ``dtype``), ``acc`` (arg = index of an earlier reduce stage), ``gather`` (arg = (buffer
    index, View, axis); src = (index expression,): the view's ``axis`` coordinate is replaced
    by the index value), ``random`` (arg = index of the (seed, counter) parameter pair;
    uniform numbers from the element's flat position).
    """

    __slots__ = ("kind", "dtype", "src", "arg", "_key")

    def __init__(self, kind: str, dtype: DType, src: tuple[UOp, ...] = (), arg: Any = None):
        self.kind, self.dtype, self.src, self.arg = kind, dtype, src, arg
        self._key: tuple | None = None

    def key(self) -> tuple:
        """A hashable structural description (used to share common subexpressions)."""
        if self._key is None:
            arg = self.arg
            if self.kind in ("load", "gather"):
                arg = (arg[0], arg[1].key()) + tuple(arg[2:])
            elif isinstance(arg, Op):
                arg = arg.value
            elif isinstance(arg, DType):
                arg = arg.name
            self._key = (self.kind, self.dtype.name, arg, tuple(s.key() for s in self.src))
        return self._key

    def __repr__(self) -> str:
        return f"UOp({self.kind}, {self.dtype.name}, {self.arg!r}, {list(self.src)})"


@dataclass
class Stage:
    """One step of a row: ``reduce`` (op SUM/AMAX into an accumulator), ``row`` or ``full``
    (store ``value`` into buffer ``out``). ``view`` (``full`` stages only) stores through a
    View over the iteration shape instead of contiguously: an in-place write into an
    existing buffer (strided, offset; never masked)."""

    kind: str
    value: UOp
    out: int = -1
    op: Op | None = None
    view: View | None = None


@dataclass
class Kernel:
    """A loop nest over ``shape``: kept axes outside, ``reduce_axes`` inside, ``stages`` per
    row. ``buffers`` holds the dtype of every buffer argument (outputs and inputs alike);
    ``special`` names hand-lowered kernels (``scatter_add``) whose loop is not a plain nest."""

    name: str
    shape: tuple[int, ...]
    reduce_axes: tuple[int, ...]
    buffers: list[DType]
    stages: list[Stage]
    outputs: list[int] = field(default_factory=list)
    special: str | None = None
    special_arg: Any = None
    random_params: int = 0
    # Buffers of ``full`` stages that only later stages of this kernel read (no other
    # kernel, not a result): a renderer may keep them in per-row scratch instead of memory.
    scratch: tuple[int, ...] = ()

    def store_view(self, stage: Stage) -> View:
        """The View a store writes through, over the iteration shape."""
        if stage.view is not None:
            return stage.view
        if stage.kind == "full":
            return View(self.shape)
        row = tuple(1 if d in self.reduce_axes else s for d, s in enumerate(self.shape))
        return View(self.shape, contiguous_strides(row))

    @property
    def checks_indices(self) -> bool:
        """Whether the kernel reads indices it must check (gather, scatter_add): its
        renderer then reports an out-of-range index through the launch's error flag."""
        return self.special == "scatter_add" or any(
            n.kind == "gather" for s in self.stages for n in walk(s.value))

    def describe(self) -> str:
        """A one-line summary: name, shape, inner axes and what each stage does."""
        parts = [f"{s.kind}{'(' + s.op.value + ')' if s.op else ''}" for s in self.stages]
        inner = f" reduce{self.reduce_axes}" if self.reduce_axes else ""
        return f"{self.name} shape={self.shape}{inner} [{', '.join(parts)}]"


def walk(root: UOp) -> list[UOp]:
    """Every node under ``root`` once, sources before users."""
    return postorder([root], lambda node: node.src)


def collapse_axes(kernel: Kernel) -> Kernel:
    """Merge neighbouring axes that every view walks as one (same inner/kept class, no
    masks, stride[d] == stride[d+1] * size[d+1]), and drop size-1 axes, so contiguous work
    becomes one flat loop the C compiler vectorizes.

    Returns a new Kernel over fewer axes; the elements it touches are unchanged.
    """
    views: list[View] = []
    nodes = [n for stage in kernel.stages for n in walk(stage.value)]
    for node in nodes:
        if node.kind in ("load", "gather"):
            views.append(node.arg[1])
    stores = [kernel.store_view(s) for s in kernel.stages if s.kind != "reduce"]
    if kernel.special or any(n.kind in ("gather", "random") for n in nodes):
        return kernel  # these index by coordinates; keep the axes as the user wrote them
    shape, reduce_axes = kernel.shape, set(kernel.reduce_axes)
    groups: list[list[int]] = []
    for d, size in enumerate(shape):
        if size == 1 and len(shape) > 1:
            if any(v.mask is not None and v.mask[d] != (0, 1) for v in views):
                return kernel  # a size-1 axis masked away: keep it so the mask is checked
            continue
        if groups:
            prev = groups[-1][-1]
            if (prev in reduce_axes) == (d in reduce_axes) and all(
                    v.mask is None and v.strides[prev] == v.strides[d] * size
                    for v in views + stores):
                groups[-1].append(d)
                continue
        groups.append([d])
    if len(groups) == len(shape):
        return kernel
    new_shape = tuple(_prod(shape[d] for d in g) for g in groups)
    new_reduce = tuple(i for i, g in enumerate(groups) if g[0] in reduce_axes)

    def remap(view: View) -> View:
        strides = tuple(view.strides[g[-1]] for g in groups)
        mask = None if view.mask is None else tuple(
            view.mask[g[0]] if len(g) == 1 else (0, new_shape[i]) for i, g in enumerate(groups))
        return View(new_shape, strides, view.offset, mask)

    memo: dict[int, UOp] = {}

    def rebuild(node: UOp) -> UOp:
        found = memo.get(id(node))
        if found is None:
            arg = node.arg
            if node.kind == "load":
                arg = (arg[0], remap(arg[1]))
            found = memo[id(node)] = UOp(node.kind, node.dtype,
                                         tuple(rebuild(s) for s in node.src), arg)
        return found

    stages = [Stage(s.kind, rebuild(s.value), s.out, s.op,
                    None if s.view is None else remap(s.view)) for s in kernel.stages]
    return Kernel(kernel.name, new_shape, new_reduce, kernel.buffers, stages, kernel.outputs,
                  kernel.special, kernel.special_arg, kernel.random_params)


def _prod(values: Any) -> int:
    out = 1
    for v in values:
        out *= v
    return out
