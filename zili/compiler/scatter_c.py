"""The C dialect's SCATTER_ADD: ``out = 0; out[.., index[i], ..] += source[i]``.

The output is cut into *blocks*: one block per coordinate of the axes before the scatter
axis, holding the scatter axis and every axis after it. An element of the index only ever
adds into the block of its own leading coordinates, so blocks are independent: OpenMP
splits them between threads (above :data:`~zili.compiler.reduce_c.PARALLEL_THRESHOLD`
output elements) and no two threads add into the same element. Each thread keeps one wide
accumulator block (double for floats, 64-bit for integers, as a SUM reduction), zeroes it,
adds the index elements of its block in the index's order, and writes the block out once.

So cross-entropy's one-hot gradient (a ``(rows, classes)`` output, scatter axis last) costs
one small block per row, not an accumulator the size of the whole output (whose fresh pages
cost more than the adds), and its rows run in parallel. With the scatter axis first (the
embedding gradient) there is one block, added serially, the order of a plain loop. The
order of additions into an element is the index's order either way, whatever the number
of threads, so results are the same run after run, eager or jitted.
"""

from __future__ import annotations

from typing import Any

from zili.compiler.ir import Kernel, Stage
from zili.compiler.reduce_c import PARALLEL_THRESHOLD
from zili.ops import Op
from zili.ops.view import View, contiguous_strides


def render_scatter(renderer: Any, kernel: Kernel) -> str:
    """C source of the ``special="scatter_add"`` kernel (its iteration space: the index's
    shape; buffers: output, index, source). Returns 1 when an index is out of range, 2 when
    the accumulator cannot be allocated."""
    axis, out_shape = kernel.special_arg
    out = kernel.stages[0].out
    out_dtype = kernel.buffers[out]
    rank = len(out_shape)
    full = set(range(rank))
    lines: list[str] = []
    names: dict[tuple, str] = {}
    idx = renderer.expr_lines(kernel.stages[0].value, full, names, lines)
    src = renderer.expr_lines(kernel.stages[1].value, full, names, lines)
    size = renderer.num(out_shape[axis])
    block_shape = tuple(out_shape[axis:])
    block = renderer.num(_prod(block_shape))
    outer = [renderer.num(out_shape[d]) for d in range(axis)]
    total = renderer.num(_prod(out_shape))
    coords = ["j"] + [f"i{d}" for d in range(axis + 1, rank)]
    lines.append(f"long long j = (long long){idx}; if (j < 0 || j >= {size}) "
                 "{ err = 1; continue; }")
    at = renderer.address(View(block_shape, contiguous_strides(block_shape)), coords)
    lines.append(f"acc[{at}] += {src};")
    adds = lines
    for d in reversed(range(axis, rank)):
        adds = [f"for (long long i{d} = 0; i{d} < {renderer.size(d)}; i{d}++) {{",
                *adds, "}"]
    # The outer coordinates run over the output; the index may be shorter there (torch
    # allows index.size(d) <= out.size(d)), leaving zero blocks.
    inside = " && ".join(f"i{d} < {renderer.size(d)}" for d in range(axis)) or "1"
    base = "+".join(f"i{d}*{renderer.num(_prod(out_shape[d + 1:axis]))}"
                    for d in range(axis)) or "0"
    acc_type = renderer.acc_type(Stage("reduce", kernel.stages[1].value, op=Op.SUM),
                                 out_dtype)
    value = renderer.store_value(out_dtype, renderer.cast(out_dtype, out_dtype, "acc[t]"))
    body = [f"for (long long t = 0; t < {block}; t++) acc[t] = 0;",
            f"if ({inside}) {{", *adds, "}",
            f"long long o = ({base}) * {block};",
            f"for (long long t = 0; t < {block}; t++) b{out}[o + t] = {value};"]
    for d in reversed(range(axis)):
        body = [f"for (long long i{d} = 0; i{d} < {outer[d]}; i{d}++) {{", *body, "}"]
    if axis:
        body = [f"#pragma omp for collapse({axis}) schedule(static)", *body]
    parallel = "#pragma omp parallel reduction(max:err)"
    if axis and renderer.dynamic:
        parallel += f" if({total} >= {PARALLEL_THRESHOLD})"
    elif not axis or _prod(out_shape) < PARALLEL_THRESHOLD:
        parallel = ""
    region = [f"{acc_type}* acc = malloc(({block} > 0 ? {block} : 1) * sizeof(*acc));",
              "if (!acc) { err = 2; } else {", *body, "free(acc);", "}"]
    return renderer.function(kernel, ([parallel] if parallel else []) + ["{", *region, "}"])


def _prod(values: Any) -> int:
    out = 1
    for v in values:
        out *= v
    return out
