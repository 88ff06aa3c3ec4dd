"""The fusion scheduler: a graph of primitive nodes -> an ordered list of kernels.

Rules (docs/architecture.md, "Compiler", spells them out):

1. *Buffers.* A node gets a buffer when it leaves the graph (a result, a rebound parameter),
   feeds a library call or a hand-lowered kernel (MATMUL, SCATTER_ADD, the table of a
   GATHER), is a reduction, is read through a view that is not a pure axis mapping
   (reshape across axes, pad, shrink, flip), or is expensive (a transcendental, a division,
   or more than :data:`CHEAP` operations) and read more than once. Every other node is
   inlined into each consumer: elementwise chains become one expression.
2. *Groups.* Nodes with buffers are visited in dependency order; each joins the newest
   kernel whose iteration space fits and that runs after everything the node reads: a
   reduction joins a kernel over the same input shape and axes (so mean and variance of a
   LayerNorm share one row loop), elementwise work over the full shape joins after the
   reductions it uses, elementwise work over the reduced shape joins as a per-row store.
   Otherwise it starts a new kernel. MATMUL stays a library call.
3. *Epilogues* (for the dtypes whose products the device adds to, ``epilogues``). A MATMUL whose
   only user is an ADD of the product's full, unpermuted result and another tensor of the
   same dtype becomes that ADD's step: the library adds the other tensor (read through its
   view, so a broadcast bias costs nothing) while the tile is in cache, and the product gets
   no buffer of its own. Up to two such ADDs chain (bias, then residual); the sums round as
   the unfused ones (product, then each addend in turn), so eager and jitted bits agree.
"""

from __future__ import annotations

from typing import Any

from zili.compiler.ir import Kernel, collapse_axes
from zili.compiler.lower import CannotFuse, GroupLowering, Node, axis_map, scatter_add_kernel
from zili.graph import postorder
from zili.ops import ELEMENTWISE, FACTS, Op

CHEAP = 4
_OPAQUE = frozenset({Op.MATMUL, Op.SCATTER_ADD, Op.GATHER, Op.RANDOM})
SEARCH = 6  # how many of the newest kernels a node may join


def toposort(roots: list[Node]) -> list[Node]:
    """Every node behind ``roots``, sources first."""
    return postorder(roots, lambda node: [s for s, _, _ in node.srcs])


def _cost(node: Node, realized: set[int], limit: int) -> int:
    """Operations an inlined copy of ``node`` costs (stops counting at ``limit``)."""
    total, stack = 0, [node]
    while stack and total <= limit:
        n = stack.pop()
        if n.op is None or (id(n) in realized and n is not node):
            continue
        total += FACTS[n.op].cost
        stack.extend(s for s, _, _ in n.srcs)
    return total


MAX_ADDENDS = 2  # the SGEMM's epilogue adds a bias and a residual


def find_epilogues(order: list[Node], roots: list[Node],
                   dtypes: tuple[str, ...]) -> tuple[dict[int, tuple[Node, list]], set[int]]:
    """Rule 3: ({id of the last ADD of a chain: (its MATMUL, [(addend, view), ...])}, ids of
    the nodes the chains absorb: their products and inner ADDs, which get no buffer)."""
    users: dict[int, list[Node]] = {}
    for node in order:
        for src, _, _ in node.srcs:
            users.setdefault(id(src), []).append(node)
    root_ids = {id(r) for r in roots}
    fused: dict[int, tuple[Node, list]] = {}
    heads: dict[int, tuple[Node, list]] = {}  # id of an absorbed node -> its chain so far
    absorbed: set[int] = set()
    for node in order:
        if node.op is Op.MATMUL and id(node) not in root_ids:
            heads[id(node)] = (node, [])
        if node.op is not Op.ADD or len(node.srcs) != 2:
            continue
        for here, other in ((0, 1), (1, 0)):
            src, view, dtype = node.srcs[here]
            chain = heads.get(id(src))
            addend, addend_view, addend_dtype = node.srcs[other]
            if chain is None or len(chain[1]) >= MAX_ADDENDS or \
                    len(users.get(id(src), [])) != 1 or addend is src or \
                    not (view.contiguous and view.offset == 0 and view.numel == src_numel(src)) \
                    or not dtype == addend_dtype == node.dtype == chain[0].dtype or \
                    node.dtype.name not in dtypes:
                continue
            # The product's buffer is the ADD's, read in the product's shape (a Linear adds
            # its bias to the (batch, T, out) reshape of a (batch*T, out) product).
            addend_view = addend_view.reshape(chain[0].shape)
            if addend_view is None:
                continue
            entry = (chain[0], chain[1] + [(addend, addend_view)])
            fused.pop(id(src), None)
            absorbed.add(id(src))
            heads.pop(id(src))
            fused[id(node)] = entry
            if id(node) not in root_ids:
                heads[id(node)] = entry
            break
    return fused, absorbed


def src_numel(node: Node) -> int:
    """Elements of ``node``'s result."""
    count = 1
    for size in node.shape:
        count *= size
    return count


def choose_buffers(order: list[Node], roots: list[Node]) -> set[int]:
    """Rule 1: the ids of the nodes that get a buffer."""
    realized = {id(r) for r in roots}
    users: dict[int, int] = {}
    for node in order:
        for src, view, _ in node.srcs:
            users[id(src)] = users.get(id(src), 0) + 1
            if src.op is None:
                continue
            if node.op in (Op.MATMUL, Op.SCATTER_ADD) or \
                    (node.op is Op.GATHER and src is node.srcs[0][0]) or \
                    src.op in _OPAQUE or src.op in (Op.SUM, Op.AMAX) or \
                    axis_map(view, src.shape) is None:
                realized.add(id(src))
    for node in reversed(order):  # consumers first, so a shared chain is cut at its top
        if node.op in ELEMENTWISE and users.get(id(node), 0) > 1 and \
                _cost(node, realized, CHEAP) > CHEAP:
            realized.add(id(node))
    return realized


class Step:
    """One kernel of a plan: what to launch and on which nodes' buffers."""

    __slots__ = ("kind", "kernel", "nodes", "lowering", "randoms", "launch", "product",
                 "views")

    def __init__(self, kind: str, nodes: list[Node], kernel: Kernel | None = None,
                 lowering: GroupLowering | None = None):
        self.kind, self.nodes, self.kernel, self.lowering = kind, nodes, kernel, lowering
        self.randoms: list[Node] = []
        self.launch: Any = None
        self.product: Node | None = None  # MATMUL steps: the product (nodes[0] may be an ADD)
        self.views: list[Any] = []  # MATMUL steps: the addends' views, in the product's shape


def schedule(roots: list[Node], epilogues: tuple[str, ...] = ()) -> list[Step]:
    """Rule 2: group the graph behind ``roots`` into kernels, in an order that respects
    every dependency (rule 3 too for products of the dtypes named in ``epilogues``). Returns
    steps whose ``nodes`` list the kernel's buffers in argument order (MATMUL steps: output,
    a, b, then any addends, with their views in ``views``)."""
    order = toposort(roots)
    fused, absorbed = find_epilogues(order, roots, epilogues)
    adds = set(fused) | {id(a) for _, chain in fused.values() for a, _ in chain if a.op}
    extra: set[int] = set()
    while True:
        realized = ((choose_buffers(order, roots) | extra) - absorbed) | adds
        try:
            return _group(order, realized, fused, roots)
        except _Retry as retry:
            extra |= retry.ids


class _Retry(Exception):  # noqa: N818 (control flow)
    def __init__(self, ids: set[int]):
        self.ids = ids


def _group(order: list[Node], realized: set[int], fused: dict[int, tuple[Node, list]],
           roots: list[Node]) -> list[Step]:
    steps: list[Step] = []
    home: dict[int, int] = {}  # node id -> index of the step that stores it

    def has_buffer(n: Node) -> bool:
        return n.op is None or id(n) in realized

    def deps(node: Node) -> int:
        latest, stack = -1, [s for s, _, _ in node.srcs]
        while stack:
            n = stack.pop()
            if n.op is None:
                continue
            if id(n) in realized:
                latest = max(latest, home[id(n)])
            else:
                stack.extend(s for s, _, _ in n.srcs)
        return latest

    for node in order:
        if node.op is None or id(node) not in realized:
            continue
        if node.op is Op.MATMUL or id(node) in fused:
            product, chain = fused.get(id(node), (node, []))
            (a, _, _), (b, _, _) = product.srcs
            home[id(node)] = len(steps)
            steps.append(Step("matmul", [node, a, b, *(x for x, _ in chain)]))
            steps[-1].product, steps[-1].views = product, [v for _, v in chain]
            continue
        if node.op is Op.SCATTER_ADD:
            kernel, bufs = scatter_add_kernel(f"j_scatter_add_{len(steps)}", node)
            home[id(node)] = len(steps)
            steps.append(Step("kernel", bufs, kernel))
            continue
        first = deps(node)
        placed = False
        for index in range(len(steps) - 1, max(first - 1, len(steps) - SEARCH - 1, -1), -1):
            step = steps[index]
            if step.lowering is None or index < first:
                continue
            if _try_add(step.lowering, node):
                home[id(node)] = index
                if node.op is Op.RANDOM:
                    step.randoms.append(node)
                placed = True
                break
        if placed:
            continue
        if node.op in (Op.SUM, Op.AMAX):
            lowering = GroupLowering(node.srcs[0][1].shape, tuple(node.arg), has_buffer)
        else:
            lowering = GroupLowering(node.shape, (), has_buffer)
        if not _try_add(lowering, node):
            raise _Retry({id(s) for s, _, _ in node.srcs if s.op is not None})
        home[id(node)] = len(steps)
        step = Step("kernel", [], lowering=lowering)
        if node.op is Op.RANDOM:
            step.randoms.append(node)
        steps.append(step)
    # A node that another step reads, or that the plan returns, stays in memory; a kernel's
    # other full-stage outputs may live in per-row scratch (Kernel.scratch).
    needed = {id(r) for r in roots}
    for index, step in enumerate(steps):
        nodes = step.lowering.buffers if step.lowering is not None else step.nodes
        needed |= {id(n) for n in nodes if home.get(id(n)) != index}
    for i, step in enumerate(steps):
        if step.lowering is not None:
            step.kernel = collapse_axes(step.lowering.kernel(f"j_k{i}"))
            step.nodes = step.lowering.buffers
            step.kernel.scratch = tuple(
                stage.out for stage in step.kernel.stages if stage.kind == "full" and
                stage.view is None and id(step.nodes[stage.out]) not in needed)
    return steps


def _try_add(lowering: GroupLowering, node: Node) -> bool:
    saved = (len(lowering.buffers), len(lowering.stages), lowering.random_params)
    try:
        lowering.add(node)
        return True
    except CannotFuse:
        del lowering.buffers[saved[0]:]
        del lowering.stages[saved[1]:]
        lowering.random_params = saved[2]
        return False
