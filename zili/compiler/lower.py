"""Lowering: a group of primitive nodes over one iteration space becomes one IR Kernel.

The graph is made of :class:`Node` objects (one per primitive, or a leaf holding a real
buffer). A node either has a buffer (a leaf, or a node that some kernel stores) or is
*inlined*: its expression is rebuilt inside every consumer. Inlining re-indexes the inlined
node's loads through a *coordinate map* (for every axis of the node: the iteration axis that
drives it, or None for coordinate 0), so a consumer that reads an elementwise result through
an expand or a permute still fuses with it. Views that are not a pure axis mapping (reshape
across axes, pad, shrink, flip) need the source in a buffer first; the scheduler sees to that
with :func:`axis_map`.
"""

from __future__ import annotations

from typing import Any

from zili.compiler.ir import Kernel, Stage, UOp, collapse_axes
from zili.dtype import DType
from zili.ops import ELEMENTWISE, Op
from zili.ops.view import View, contiguous_strides

CoordMap = tuple  # per node axis: iteration axis (int) or None (coordinate 0)


class Node:
    """One primitive in a graph (``op``), or a leaf (``op`` None) holding a real buffer.

    ``srcs`` are (node, view, dtype) triples: the view, of this node's shape for elementwise
    ops, says how the source's contiguous buffer is read.
    """

    __slots__ = ("op", "shape", "dtype", "srcs", "arg", "buffer", "users", "__weakref__")

    def __init__(self, op: Op | None, shape: tuple[int, ...], dtype: DType,
                 srcs: tuple = (), arg: Any = None, buffer: Any = None):
        self.op, self.shape, self.dtype, self.srcs, self.arg = op, shape, dtype, srcs, arg
        self.buffer = buffer
        self.users = 0

    def __repr__(self) -> str:
        return f"Node({self.op.value if self.op else 'leaf'}, {self.shape}, {self.dtype.name})"


class CannotFuse(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Raised while lowering when a node cannot join the group being built."""


def axis_map(view: View, src_shape: tuple[int, ...]) -> CoordMap | None:
    """How ``view`` (over a consumer's axes) reads a contiguous ``src_shape`` buffer, as a
    map from every source axis to the consumer axis that indexes it (None: always 0), or
    None when the view is not a pure axis mapping (identity, expand, permute)."""
    if view.mask is not None or view.offset != 0:
        return None
    cs = contiguous_strides(src_shape)
    out: list[int | None] = [None] * len(src_shape)
    for k, (size, stride) in enumerate(zip(view.shape, view.strides)):
        if size == 1 or stride == 0:
            continue
        for j, (s, c) in enumerate(zip(src_shape, cs)):
            if c == stride and s == size and out[j] is None:
                out[j] = k
                break
        else:
            return None
    if any(s != 1 and m is None for s, m in zip(src_shape, out)):
        return None
    return tuple(out)


def compose(view: View, cmap: CoordMap, shape: tuple[int, ...]) -> View | None:
    """``view`` (over a node's axes) re-expressed over the iteration ``shape`` through
    ``cmap``; None when a mask hides the element every unmapped axis reads (always zero)."""
    strides = [0] * len(shape)
    mask = None if view.mask is None else [(0, s) for s in shape]
    for k, d in enumerate(cmap):
        if d is None:
            if view.mask is not None and not view.mask[k][0] <= 0 < view.mask[k][1]:
                return None
            continue
        strides[d] = view.strides[k]
        if mask is not None:
            mask[d] = view.mask[k]
    return View(shape, tuple(strides), view.offset, None if mask is None else tuple(mask))


class GroupLowering:
    """Builds one Kernel for the iteration space (``shape``, ``reduce_axes``) from member
    nodes added in dependency order. ``has_buffer(node)`` tells which nodes are read from
    memory rather than inlined."""

    def __init__(self, shape: tuple[int, ...], reduce_axes: tuple[int, ...], has_buffer: Any):
        self.shape, self.reduce_axes, self.has_buffer = shape, reduce_axes, has_buffer
        self.identity: CoordMap = tuple(range(len(shape)))
        self.rowmap: CoordMap = tuple(None if d in reduce_axes else d for d in range(len(shape)))
        self.stages: list[Stage] = []
        self.buffers: list[Node] = []
        self.members: dict[int, tuple[str, int]] = {}  # id(node) -> (stage kind, stage index)
        self.random_params = 0

    # --- buffers ------------------------------------------------------------------------

    def _buf(self, node: Node) -> int:
        for i, b in enumerate(self.buffers):
            if b is node:
                return i
        self.buffers.append(node)
        return len(self.buffers) - 1

    @staticmethod
    def _same(a: CoordMap, b: CoordMap, shape: tuple[int, ...]) -> bool:
        # Axes of size 1 read coordinate 0 however they are mapped.
        return all(x == y for x, y, s in zip(a, b, shape) if s != 1)

    # --- expressions --------------------------------------------------------------------

    def read(self, node: Node, view: View, cmap: CoordMap) -> UOp:
        """The expression for ``node`` read through ``view`` (over the consumer's axes, which
        ``cmap`` maps onto the iteration space)."""
        member = self.members.get(id(node))
        if member is not None or self.has_buffer(node):
            if member is not None:
                kind, index = member
                inner = axis_map(view, node.shape)
                where = None if inner is None else tuple(
                    None if m is None else cmap[m] for m in inner)
                if kind == "reduce" and where is not None and \
                        self._same(where, self.rowmap, node.shape):
                    return UOp("acc", node.dtype, (), index)
                ok = where is not None and (
                    (kind == "full" and self._same(where, self.identity, node.shape)) or
                    (kind in ("row", "reduce") and self._same(where, self.rowmap, node.shape)))
                if not ok:
                    raise CannotFuse(f"{node} is stored by this kernel and read elsewhere")
            composed = compose(view, cmap, self.shape)
            if composed is None:
                return UOp("const", node.dtype, (), 0)
            return UOp("load", node.dtype, (), (self._buf(node), composed))
        inner = axis_map(view, node.shape)
        if inner is None:
            raise CannotFuse(f"{node} is read through a view that is not an axis mapping")
        return self.inline(node, tuple(None if m is None else cmap[m] for m in inner))

    def inline(self, node: Node, cmap: CoordMap) -> UOp:
        """``node``'s own computation, its sources re-indexed through ``cmap``."""
        op = node.op
        if op not in ELEMENTWISE:
            raise CannotFuse(f"{node} cannot be inlined")
        srcs = tuple(self.read(s, v, cmap) for s, v, _ in node.srcs)
        if op is Op.COPY:
            return srcs[0]
        if op is Op.CAST:
            return UOp("cast", node.dtype, srcs)
        return UOp("alu", node.dtype, srcs, op)

    # --- members ------------------------------------------------------------------------

    def add(self, node: Node) -> None:
        """Make ``node`` a stage of this kernel (it gets a buffer).

        Raises:
            CannotFuse: if the node does not fit this iteration space.
        """
        row_shape = tuple(1 if d in self.reduce_axes else s for d, s in enumerate(self.shape))
        if node.op in (Op.SUM, Op.AMAX):
            src, view, _ = node.srcs[0]
            if view.shape != self.shape or tuple(node.arg) != self.reduce_axes:
                raise CannotFuse("another iteration space")
            value = self.read(src, view, self.identity)
            stage = Stage("reduce", value, self._buf(node), node.op)
        elif node.op is Op.RANDOM:
            if node.shape != self.shape or self.reduce_axes:
                raise CannotFuse("another iteration space")
            value = UOp("random", node.dtype, (), self.random_params)
            self.random_params += 1
            stage = Stage("full", value, self._buf(node))
        elif node.op is Op.GATHER:
            if node.shape != self.shape or self.reduce_axes:
                raise CannotFuse("another iteration space")
            (x, xv, _), (index, iv, _) = node.srcs
            index_expr = self.read(index, iv, self.identity)
            if not self.has_buffer(x):
                raise CannotFuse("gather reads a buffer")
            value = UOp("gather", node.dtype, (index_expr,), (self._buf(x), xv, node.arg))
            stage = Stage("full", value, self._buf(node))
        elif node.shape == self.shape and (not self.reduce_axes or self.stages):
            stage = Stage("full", self.inline(node, self.identity), self._buf(node))
        elif node.shape == row_shape and self.reduce_axes:
            stage = Stage("row", self.inline(node, self.rowmap), self._buf(node))
        else:
            raise CannotFuse("another iteration space")
        self.members[id(node)] = (stage.kind, len(self.stages))
        self.stages.append(stage)

    def kernel(self, name: str) -> Kernel:
        """The finished Kernel; buffer i of the kernel is ``self.buffers[i]``."""
        outs = [s.out for s in self.stages]
        return Kernel(name, self.shape, self.reduce_axes, [b.dtype for b in self.buffers],
                      self.stages, outs, random_params=self.random_params)


def scatter_add_kernel(name: str, node: Node) -> tuple[Kernel, list[Node]]:
    """SCATTER_ADD as a hand-lowered kernel: zero the output, then for every element of the
    index tensor add the source value at the indexed position (serial, so adds never race)."""
    (index, iv, _), (source, sv, _) = node.srcs
    lowering = GroupLowering(iv.shape, (), lambda n: True)
    out = lowering._buf(node)
    idx = lowering.read(index, iv, lowering.identity)
    src = lowering.read(source, sv, lowering.identity)
    kernel = Kernel(name, iv.shape, (), [b.dtype for b in lowering.buffers],
                    [Stage("full", idx, out), Stage("full", src, out)], [out],
                    special="scatter_add", special_arg=(node.arg, node.shape))
    return kernel, lowering.buffers


def assign_kernel(name: str, view: View, dtype: DType, value_view: View,
                  value_dtype: DType) -> Kernel:
    """An in-place write: buffer 0 (the destination) takes, at the positions ``view``
    addresses, the elements of buffer 1 read through ``value_view`` (both over ``view``'s
    shape). The store goes through ``view`` (strides, offset), so nothing else in buffer 0
    changes; the caller has checked the view is unmasked and writes no element twice."""
    destination = Node(None, (max(view.numel, 1),), dtype, buffer=True)
    source = Node(None, value_view.shape, value_dtype, buffer=True)
    lowering = GroupLowering(view.shape, (), lambda n: True)
    out = lowering._buf(destination)
    value = lowering.read(source, value_view, lowering.identity)
    return Kernel(name, view.shape, (), [b.dtype for b in lowering.buffers],
                  [Stage("full", value, out, view=view)], [out])


def matmul_kernel(name: str, node: Node) -> tuple[Kernel, list[Node]]:
    """MATMUL as a kernel the compiler owns, so a device needs no BLAS: the iteration space
    is (*batch, M, N, K) with K reduced, and the value is a[..., m, k] * b[..., k, n] read
    through both operands' views (strides, offset, mask). ``special="matmul"`` lets a
    renderer tile it (local memory, register blocking); one that does not renders it as a
    plain reduction. Buffers: output, a, b."""
    (a, av, adt), (b, bv, bdt) = node.srcs
    m, k, n = av.shape[-2], av.shape[-1], bv.shape[-1]
    shape = node.shape + (k,)
    whole = ((0, m),), ((0, n),)
    a_view = View(shape, av.strides[:-1] + (0, av.strides[-1]), av.offset, None if av.mask
                  is None else av.mask[:-1] + whole[1] + av.mask[-1:])
    b_view = View(shape, bv.strides[:-2] + (0, bv.strides[-1], bv.strides[-2]), bv.offset,
                  None if bv.mask is None else bv.mask[:-2] + whole[0] + bv.mask[-1:] +
                  bv.mask[-2:-1])
    value = UOp("alu", node.dtype, (UOp("load", adt, (), (1, a_view)),
                                    UOp("load", bdt, (), (2, b_view))), Op.MUL)
    kernel = Kernel(name, shape, (len(shape) - 1,), [node.dtype, adt, bdt],
                    [Stage("reduce", value, 0, Op.SUM)], [0], special="matmul",
                    special_arg=(m, n, k))
    return kernel, [node, a, b]


def lower_primitive(op: Op, shape: tuple[int, ...], dtype: DType,
                    operands: list[tuple[View, DType]], arg: Any) -> tuple[Kernel, list[int]]:
    """One primitive as a one-node kernel (eager mode); also the kernel buffer order (-1:
    the output, k: input k)."""
    leaves = [Node(None, v.shape, dt, buffer=True) for v, dt in operands]
    node = Node(op, shape, dtype, tuple((leaf, v, dt) for leaf, (v, dt) in
                                        zip(leaves, operands)), arg)
    name = f"e_{op.value}"
    if op is Op.SCATTER_ADD:
        kernel, bufs = scatter_add_kernel(name, node)
    elif op is Op.MATMUL:
        kernel, bufs = matmul_kernel(name, node)
    else:
        if op in (Op.SUM, Op.AMAX):
            lowering = GroupLowering(operands[0][0].shape, tuple(arg), lambda n: n.op is None)
        else:
            lowering = GroupLowering(shape, (), lambda n: n.op is None)
        lowering.add(node)
        kernel, bufs = lowering.kernel(name), lowering.buffers
    order = [-1 if b is node else leaves.index(b) for b in bufs]
    return collapse_axes(kernel), order
