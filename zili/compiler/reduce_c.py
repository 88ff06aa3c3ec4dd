"""The C dialect's reduction loops: row and column reductions at memory speed.

:class:`~zili.compiler.render_c.CRenderer` hands every kernel with reduce axes (SUM, AMAX;
``special`` kernels excepted) to :func:`render_reduction`. Two loop shapes, chosen by the
kernel's structure alone (whether its innermost axis is reduced), so an eager primitive and
the same reduction inside a jitted kernel always take the same one:

* **Row path** (the innermost axis is reduced: ``sum(-1)``, softmax, layer norm). Each reduce
  stage streams the row into :data:`LANES` independent accumulators of the value's own
  type (float32 stays float32, so the C compiler keeps them in vector registers): element
  ``r`` of the flattened reduced axes goes to lane ``r % LANES``; every :data:`BLOCK`
  elements the lanes are summed as a fixed tree and the block's sum joins a double total.
  A lone full reduction runs its blocks in parallel and adds the block sums in order.
* **Column path** (the innermost axis is kept: ``sum(0)``, the gradient of a bias or a
  layer norm's weight). Rows are the outer loop, the contiguous columns the inner
  (vectorized) loop, :data:`UNROLL` rows per pass; each column adds :data:`ROWS` rows in
  float32, then joins its double total. OpenMP splits the columns into blocks when there
  are enough of them for every thread, else (a lone reduction) it splits the rows into
  blocks of :data:`ROWS` whose partial sums go to a buffer and are added in order.

Every order of additions depends on the shapes only, never on the number of threads or on
how the reduced axes are nested, so results are the same run after run, eager or jitted.
AMAX uses the same loops (NaN propagates; no totals are needed).
"""

from __future__ import annotations

import os
from typing import Any

from zili.compiler.ir import Kernel, Stage
from zili.ops import Op

LANES = 32  # independent partial sums of a row: 8 SSE or 4 AVX vectors of float32
BLOCK = 1024  # row elements summed in float32 before their sum joins the double total
ROWS = 64  # column path: rows a column adds in float32 before joining its double total
UNROLL = 4  # column path: rows per pass over a block of columns
MIN_COLUMNS, MAX_COLUMNS = 64, 4096  # width of a column block (its accumulators: heap)
PARALLEL_THRESHOLD = 1 << 15  # below this many elements a kernel runs on one thread

PRELUDE = r"""#ifdef _OPENMP
#include <omp.h>
static inline long long zili_threads(void) { return omp_get_max_threads(); }
#else
static inline long long zili_threads(void) { return 1; }
#endif
"""


def render_reduction(r: Any, kernel: Kernel) -> tuple[str, list[int]]:
    """Source text of a reduction ``kernel`` in the C renderer ``r`` and (dynamic mode) its
    integer parameters; see the module docstring for the loops."""
    r.begin(kernel)
    last = len(kernel.shape) - 1
    body = _rows(r, kernel) if last in kernel.reduce_axes else _columns(r, kernel)
    return r.function(kernel, body), r.params


def path_of(kernel: Kernel) -> str:
    """Which loop shape a reduction kernel takes: ``rows`` or ``columns`` (``""`` for a
    kernel without reduce axes); ZILI_DEBUG prints it beside the kernel."""
    if not kernel.reduce_axes or kernel.special:
        return ""
    return "rows" if len(kernel.shape) - 1 in kernel.reduce_axes else "columns"


# --- pieces shared by both paths -----------------------------------------------------------

class _Acc:
    """Types and statements of one reduce stage's accumulators."""

    def __init__(self, r: Any, kernel: Kernel, k: int, stage: Stage):
        dtype = stage.value.dtype
        self.k, self.stage, self.is_sum = k, stage, stage.op is Op.SUM
        self.out = kernel.buffers[stage.out]
        self.lane = r.compute_type(dtype) if dtype.is_floating_point or not self.is_sum \
            else r.i64
        self.total = ("double" if dtype.is_floating_point else r.i64) if self.is_sum \
            else self.lane
        self.init = r.acc_init(stage, dtype)
        self.nan = dtype.is_floating_point
        self.r = r

    def update(self, dst: str, value: str) -> str:
        """``dst`` folds in ``value`` (later in the order than what ``dst`` holds)."""
        if self.is_sum:
            return f"{dst} += {value};"
        nan = f" || {value} != {value}" if self.nan else ""
        return f"{dst} = ({value} > {dst}{nan}) ? {value} : {dst};"

    def tree(self, lanes: str) -> str:
        """Fold the lanes into ``lanes[0]`` as a fixed tree."""
        half, parts = LANES // 2, []
        while half:  # constant trip counts, so the compiler unrolls and vectorizes them
            parts.append(f"for (int j = 0; j < {half}; j++) "
                         f"{{ {self.update(f'{lanes}[j]', f'{lanes}[j + {half}]')} }}")
            half //= 2
        return " ".join(parts)

    def result(self, total: str) -> str:
        """The finished total as the output's compute value."""
        return self.r.acc_result(self.stage, self.out, total)


def _loops(r: Any, axes: list[int], body: list[str]) -> list[str]:
    for d in reversed(axes):
        body = [f"for (long long i{d} = 0; i{d} < {r.size(d)}; i{d}++) {{", *body, "}"]
    return body


def _expr(r: Any, value: Any, scope: set[int], head: list[str], update: Any) -> list[str]:
    """``head``, the lines computing ``value`` and the statement ``update(name)``, as a
    block of its own (so it may be emitted several times in one scope)."""
    lines: list[str] = []
    name = r.expr_lines(value, scope, {}, lines)
    return ["{", *head, *lines, update(name), "}"]


def _prod(r: Any, axes: list[int]) -> str:
    return "*".join(f"(long long){r.size(d)}" for d in axes) or "1"


def _parallel(collapse: int, total: str) -> str:
    return f"#pragma omp parallel for collapse({collapse}) if({total} >= {PARALLEL_THRESHOLD})"


# --- row path ------------------------------------------------------------------------------

def _rows(r: Any, kernel: Kernel) -> list[str]:
    n = len(kernel.shape)
    kept = [d for d in range(n) if d not in kernel.reduce_axes]
    full = set(range(n))
    if not kept and len(kernel.stages) == 1 and len(kernel.reduce_axes) == 1:
        return _lone_row(r, kernel)
    body: list[str] = r.scratch_declarations(kernel)
    for k, stage in enumerate(kernel.stages):
        if stage.kind != "reduce":
            lines = r.store_lines(kernel, stage, full if stage.kind == "full" else set(kept))
            body += _loops(r, list(kernel.reduce_axes), lines) if stage.kind == "full" \
                else lines
            continue
        acc = _Acc(r, kernel, k, stage)
        body += _row_stream(r, kernel, acc)
        body.append(f"{r.compute_type(acc.out)} r{k} = {acc.result(f't{k}')};")
        coords = [r.var(d, set(kept)) for d in range(n)]
        body.append(r.row_store(acc.out, stage.out, r.address(kernel.store_view(stage), coords),
                                f"r{k}"))
    return r.loops(kernel, body)


def _row_stream(r: Any, kernel: Kernel, acc: _Acc) -> list[str]:
    """One reduce stage over the row: lanes, blocks, the double total ``t{k}``."""
    k, last = acc.k, kernel.reduce_axes[-1]
    full, size, m = set(range(len(kernel.shape))), r.size(last), LANES - 1
    vector = _expr(r, acc.stage.value, full, [f"long long i{last} = s{k} + j{k};"],
                   lambda v: acc.update(f"l{k}[j{k}]", v))
    flush = [acc.tree(f"l{k}"), acc.update(f"t{k}", f"l{k}[0]"),
             f"for (int j = 0; j < {LANES}; j++) l{k}[j] = {acc.init};"]
    stream = [
        f"for (long long s{k} = 0; s{k} < {size}; ) {{",
        f"if ((q{k} & {m}) == 0 && s{k} + {LANES} <= {size}) {{",
        f"long long e{k} = s{k} + (({size} - s{k}) & ~{m}LL);",
        f"if (e{k} - s{k} > {BLOCK} - q{k}) e{k} = s{k} + ({BLOCK} - q{k});",
        f"q{k} += e{k} - s{k};",
        f"for (; s{k} < e{k}; s{k} += {LANES}) {{",
        f"for (int j{k} = 0; j{k} < {LANES}; j{k}++) {vector[0]}", *vector[1:],
        "}",
        "} else {",
        *_expr(r, acc.stage.value, full, [f"long long i{last} = s{k};"],
               lambda v: acc.update(f"l{k}[q{k} & {m}]", v)),
        f"q{k}++; s{k}++;",
        "}",
        f"if (q{k} == {BLOCK}) {{",
        *flush, f"q{k} = 0;",
        "}",
        "}",
    ]
    return [f"{acc.lane} l{k}[{LANES}];",
            f"for (int j = 0; j < {LANES}; j++) l{k}[j] = {acc.init};",
            f"{acc.total} t{k} = {acc.init}; long long q{k} = 0;",
            *_loops(r, list(kernel.reduce_axes[:-1]), stream),
            f"if (q{k} != 0) {{", *flush, "}"]


def _lone_row(r: Any, kernel: Kernel) -> list[str]:
    """A whole tensor to one value: blocks in parallel, block sums added in order (the same
    additions as :func:`_row_stream`)."""
    stage, axis = kernel.stages[0], kernel.reduce_axes[0]
    acc, full, size, m = _Acc(r, kernel, 0, stage), {axis}, r.size(axis), LANES - 1
    vector = _expr(r, stage.value, full, [f"long long i{axis} = s + j;"],
                   lambda v: acc.update("l[j]", v))
    scalar = _expr(r, stage.value, full, [f"long long i{axis} = s;"],
                   lambda v: acc.update(f"l[s & {m}]", v))
    store = r.row_store(acc.out, stage.out, "0", "r0")
    return [
        f"long long nb = ({size} + {BLOCK - 1}) / {BLOCK};",
        f"{acc.lane}* part = malloc((nb > 0 ? nb : 1) * sizeof({acc.lane}));",
        "if (!part) return 2;",
        _parallel(1, size),
        "for (long long b = 0; b < nb; b++) {",
        f"{acc.lane} l[{LANES}];",
        f"for (int j = 0; j < {LANES}; j++) l[j] = {acc.init};",
        f"long long s = b * {BLOCK}, e = s + {BLOCK} < {size} ? s + {BLOCK} : {size};",
        f"long long ev = s + ((e - s) & ~{m}LL);",
        f"for (; s < ev; s += {LANES}) for (int j = 0; j < {LANES}; j++) {vector[0]}",
        *vector[1:],
        f"for (; s < e; s++) {scalar[0]}", *scalar[1:],
        acc.tree("l"), "part[b] = l[0];",
        "}",
        f"{acc.total} t0 = {acc.init};",
        f"for (long long b = 0; b < nb; b++) {{ {acc.update('t0', 'part[b]')} }}",
        "free(part);",
        f"{r.compute_type(acc.out)} r0 = {acc.result('t0')};",
        store,
    ]


# --- column path ---------------------------------------------------------------------------

def _columns(r: Any, kernel: Kernel) -> list[str]:
    n = len(kernel.shape)
    last, red = n - 1, list(kernel.reduce_axes)
    outer = [d for d in range(last) if d not in red]
    accs = {k: _Acc(r, kernel, k, s) for k, s in enumerate(kernel.stages) if s.kind == "reduce"}
    width = r.size(last)
    head = [
        f"long long nt = zili_threads(), no = {_prod(r, outer)}, nr = {_prod(r, red)};",
        "long long want = (nt + no - 1) / (no > 0 ? no : 1);",
        f"long long cw = ({width} + want - 1) / want; cw = (cw + 15) & ~15LL;",
        f"if (cw < {MIN_COLUMNS}) cw = {MIN_COLUMNS}; if (cw > {MAX_COLUMNS}) cw = "
        f"{MAX_COLUMNS};",
        f"long long ncb = ({width} + cw - 1) / cw; int oom = 0;",
    ]
    task = ["long long c0 = cb * cw, w = " + f"{width} - c0 < cw ? {width} - c0 : cw;"]
    arrays = []
    for k, acc in accs.items():
        arrays.append(f"{acc.lane}* a{k} = malloc(w * sizeof({acc.lane}));")
        if acc.is_sum:
            arrays.append(f"{acc.total}* t{k} = malloc(w * sizeof({acc.total}));")
    names = [f"a{k}" for k in accs] + [f"t{k}" for k, a in accs.items() if a.is_sum]
    work: list[str] = []
    for k, stage in enumerate(kernel.stages):
        work += _column_stage(r, kernel, k, stage, accs)
    task += arrays + [f"if ({' || '.join('!' + x for x in names)}) oom = 1; else {{",
                      *work, "}", *[f"free({x});" for x in names]]
    loops = _loops(r, outer, ["for (long long cb = 0; cb < ncb; cb++) {", *task, "}"])
    body = head + [_parallel(len(outer) + 1, f"no * nr * {width}"), *loops,
                   "if (oom) return 2;"]
    if len(kernel.stages) == 1 and len(red) == 1 and _few_columns(r, kernel, outer):
        return head + [f"if (no * ncb < nt && nr >= {4 * ROWS}) {{",
                       *_row_blocks(r, kernel, outer, accs[0]), "} else {", *body[len(head):],
                       "}"]
    return body


def _few_columns(r: Any, kernel: Kernel, outer: list[int]) -> bool:
    """Whether the row-block loop may run: always in dynamic mode; in static mode (sizes
    known) only when the columns could give fewer blocks than this machine has cores, so a
    jitted plan does not compile a loop it never takes. Either loop adds in the same order."""
    if r.dynamic:
        return True
    tasks = -(-kernel.shape[-1] // MIN_COLUMNS)
    for d in outer:
        tasks *= kernel.shape[d]
    return tasks < (os.cpu_count() or 1)


def _acc_defs(r: Any, accs: dict[int, _Acc], before: int, at: str) -> list[str]:
    """``r{k}`` (the finished value of every earlier reduce stage) at column ``at``."""
    return [f"{r.compute_type(a.out)} r{k} = "
            f"{a.result(f't{k}[{at}]') if a.is_sum else f'a{k}[{at}]'};"
            for k, a in accs.items() if k < before]


def _column_stage(r: Any, kernel: Kernel, k: int, stage: Stage, accs: dict[int, _Acc]
                  ) -> list[str]:
    """One stage over a block of ``w`` columns starting at ``c0``."""
    n, last = len(kernel.shape), len(kernel.shape) - 1
    red, full = list(kernel.reduce_axes), set(range(len(kernel.shape)))
    kept = set(range(n)) - set(red)
    col = [f"long long i{last} = c0 + c;"]
    if stage.kind != "reduce":
        lines = r.store_lines(kernel, stage, full if stage.kind == "full" else kept)
        inner = ["for (long long c = 0; c < w; c++) {", *col, *_acc_defs(r, accs, k, "c"),
                 *lines, "}"]
        return _loops(r, red, inner) if stage.kind == "full" else inner
    acc, rows = accs[k], red[-1]
    defs = _acc_defs(r, accs, k, "c")

    def row(offset: str, dst: str) -> list[str]:
        return _expr(r, stage.value, full, [f"long long i{rows} = h{k}{offset};"],
                     lambda v: acc.update(dst, v))
    unrolled = ["for (long long c = 0; c < w; c++) {", *col, *defs, f"{acc.lane} x = a{k}[c];"]
    for u in range(UNROLL):
        unrolled += row(f" + {u}" if u else "", "x")
    unrolled += [f"a{k}[c] = x;", "}"]
    single = ["for (long long c = 0; c < w; c++) {", *col, *defs, *row("", f"a{k}[c]"), "}"]
    flush = [f"for (long long c = 0; c < w; c++) {{ {acc.update(f't{k}[c]', f'a{k}[c]')} "
             f"a{k}[c] = {acc.init}; }}"] if acc.is_sum else []
    size = r.size(rows)
    stream = [
        f"for (long long h{k} = 0; h{k} < {size}; ) {{",
        f"if (h{k} + {UNROLL} <= {size} && q{k} + {UNROLL} <= {ROWS}) {{",
        *unrolled, f"h{k} += {UNROLL}; q{k} += {UNROLL};",
        "} else {",
        *single, f"h{k}++; q{k}++;",
        "}",
        f"if (q{k} == {ROWS}) {{", *flush, f"q{k} = 0;", "}",
        "}",
    ]
    init = f"a{k}[c] = {acc.init};" + (f" t{k}[c] = {acc.init};" if acc.is_sum else "")
    coords = [r.var(d, kept) for d in range(n)]
    store = r.row_store(acc.out, stage.out, r.address(kernel.store_view(stage), coords),
                        f"r{k}")
    return [f"for (long long c = 0; c < w; c++) {{ {init} }}",
            f"long long q{k} = 0;",
            *_loops(r, red[:-1], stream),
            f"if (q{k} != 0) {{", *flush, "}",
            "for (long long c = 0; c < w; c++) {", *col, *_acc_defs(r, accs, k + 1, "c"),
            store, "}"]


def _row_blocks(r: Any, kernel: Kernel, outer: list[int], acc: _Acc) -> list[str]:
    """A lone column reduction over few columns: blocks of :data:`ROWS` rows in parallel
    into a partial buffer, then every column adds its blocks' sums in order (the same
    additions as the column-block loop)."""
    n, last, rows = len(kernel.shape), len(kernel.shape) - 1, kernel.reduce_axes[0]
    full, kept = set(range(n)), set(range(n)) - {rows}
    width, size = r.size(last), r.size(rows)
    flat = "0"
    for d in outer:
        flat = f"({flat}) * {r.size(d)} + i{d}"
    stage = acc.stage

    def row(offset: str, dst: str) -> list[str]:
        return _expr(r, stage.value, full, [f"long long i{rows} = h{offset};"],
                     lambda v: acc.update(dst, v))
    unrolled = ["for (long long c = 0; c < w; c++) {", f"long long i{last} = c;",
                f"{acc.lane} x = a[c];"]
    for u in range(UNROLL):
        unrolled += row(f" + {u}" if u else "", "x")
    unrolled += ["a[c] = x;", "}"]
    single = ["for (long long c = 0; c < w; c++) {", f"long long i{last} = c;",
              *row("", "a[c]"), "}"]
    block = [
        "for (long long rb = 0; rb < nrb; rb++) {",
        f"long long w = {width};",
        f"{acc.lane}* a = part + (({flat}) * nrb + rb) * w;",
        f"for (long long c = 0; c < w; c++) a[c] = {acc.init};",
        f"long long h = rb * {ROWS}, he = h + {ROWS} < {size} ? h + {ROWS} : {size};",
        f"for (; h + {UNROLL} <= he; h += {UNROLL}) {{", *unrolled, "}",
        "for (; h < he; h++) {", *single, "}",
        "}",
    ]
    coords = [r.var(d, kept) for d in range(n)]
    store = r.row_store(acc.out, stage.out, r.address(kernel.store_view(stage), coords), "r0")
    total = [
        f"for (long long i{last} = 0; i{last} < {width}; i{last}++) {{",
        f"{acc.total} t = {acc.init};",
        f"for (long long rb = 0; rb < nrb; rb++) {{ "
        f"{acc.update('t', f'part[(({flat}) * nrb + rb) * {width} + i{last}]')} }}",
        f"{r.compute_type(acc.out)} r0 = {acc.result('t')};", store,
        "}",
    ]
    return [
        f"long long nrb = ({size} + {ROWS - 1}) / {ROWS};",
        f"{acc.lane}* part = malloc(no * nrb * {width} * sizeof({acc.lane}));",
        "if (!part) return 2;",
        _parallel(len(outer) + 1, f"no * nr * {width}"),
        *_loops(r, outer, block),
        _parallel(len(outer) + 1, f"no * nr * {width}"),
        *_loops(r, outer, total),
        "free(part);",
    ]
