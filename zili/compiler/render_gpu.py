"""Renderer base for work-group devices (OpenCL, CUDA, HIP): the dialect-free part of GPU
code generation. A dialect only spells it (:attr:`GroupRenderer.spell` and type names).

How kernels map onto work-items:

* elementwise kernels (no reduce axes): one work-item per output element, in work-groups of
  :attr:`GroupRenderer.group`; the flat id is split into coordinates. Where every operand
  and store is contiguous (or broadcast) along the last axis and unmasked, each work-item
  takes :data:`WIDTH` neighbours along it with vector loads and stores (the dialect's
  ``vload``/``vstore``), and a scalar tail where the axis does not divide;
* reductions: one work-group per row; each work-item folds a strided slice of the row, then
  the group combines the partial results as a tree in local memory; ``row`` stores are made
  by work-item 0, ``full`` stages after the reductions again stride over the row. A few
  long rows (at most :data:`FEW_ROWS` rows of at least :data:`LONG_ROW`) take two passes
  when no stage stores every point: pass 0 gives each row several work-groups, which write
  partial results to scratch buffers; pass 1 folds them, one group per row, and stores.
  Without fp64, float sums accumulate in float with Kahan compensation per work-item,
  then as a tree (pairwise);
* MATMUL (``special="matmul"``): 32x32 output tiles per group of 8x8 work-items, each
  work-item holding a 4x4 register block; 16-deep slices of both operands are staged in
  local memory (read through their views, so transposes and offsets cost nothing);
* SCATTER_ADD: one work-item per line of the output along the scatter axis, adding its
  sources in index order, so results are the same run after run (no atomics, no races);
* GATHER and RANDOM use the base's expressions (SplitMix64, bit-identical to the numpy
  device). Kernels that check indices report through an error flag buffer (``zerr``).

In dynamic mode every size, stride and offset is a parameter, so one program serves every
shape of the same structure (PoCL takes about a second to build a program).
"""

from __future__ import annotations

from typing import Any

from zili.compiler.ir import Kernel, Stage, walk
from zili.compiler.renderer import CLikeRenderer
from zili.dtype import DType, float32, float64, int64
from zili.ops import Op
from zili.ops.view import View, contiguous_strides

TILE, BLOCK, DEPTH = 32, 4, 16  # matmul: output tile per group, per work-item, K per step
WIDTH = 4  # elementwise: neighbours per work-item along a contiguous last axis
# Two passes when a row has at least LONG_ROW points and there are at most FEW_ROWS rows
# (one group per row would leave most compute units idle); each partial covers at least
# PART points per work-item, and a row has at most MAX_PARTS partials.
LONG_ROW, FEW_ROWS, PART, MAX_PARTS = 1 << 14, 16, 32, 64


class GroupRenderer(CLikeRenderer):
    """Work-group code generation; see the module docstring."""

    # dialect: kernel qualifier, ids, barrier, local memory, buffer pointer qualifier
    spell = {"kernel": "__kernel void", "gid": "get_global_id({})", "lid": "get_local_id({})",
             "group_id": "get_group_id({})", "barrier": "barrier(CLK_LOCAL_MEM_FENCE);",
             "local": "__local", "global": "__global"}
    prelude = ""
    fp64_prelude = ""  # dialect: helpers that need fp64 (put before the prelude where it is)
    group = 128  # work-items per group (elementwise and reductions)

    def __init__(self, dynamic: bool = False, fp64: bool = True, max_group: int = 256):
        super().__init__(dynamic)
        self.fp64 = fp64
        self.group = min(self.group, max_group)
        if fp64:
            self.prelude = self.fp64_prelude + self.prelude

    def acc_type(self, stage: Stage, dtype: DType) -> str:
        """Sums accumulate in double where the device has it, else in float."""
        if stage.op is Op.SUM and dtype.is_floating_point and not self.fp64:
            return "float"
        return super().acc_type(stage, dtype)

    def _kahan(self, stage: Stage, dtype: DType) -> bool:
        return self.acc_type(stage, dtype) == "float" and stage.op is Op.SUM

    def accumulate(self, stage: Stage, dtype: DType, acc: str, value: str) -> str:
        """A float sum without fp64 is compensated (Kahan; reset where a term or the sum
        is not finite, so infinities and NaNs propagate as in a plain sum)."""
        if not self._kahan(stage, dtype):
            return super().accumulate(stage, dtype, acc, value)
        return (f"{{ float y = {value} - {acc}c; float t = {acc} + y; "
                f"{acc}c = (t - {acc}) - y; if (!isfinite({acc}c)) {acc}c = 0; {acc} = t; }}")

    def alu(self, op: Op, dtype: DType, s: list[str]) -> str:
        """Without fp64, a float MOD runs in float (fmod is exact in every precision)."""
        if op is Op.MOD and dtype.is_floating_point and not self.fp64:
            return f"zili_fmodf({s[0]},{s[1]})"
        return super().alu(op, dtype, s)

    def num(self, value: int, literal: bool = False) -> str:
        """Dynamic mode passes every integer (strides of 1 too), so fewer programs exist."""
        return super().num(value, literal and not self.dynamic)

    def address(self, view: View, coords: list[str]) -> str:
        """offset + sum(coord * stride); dynamic mode keeps every term as a parameter."""
        if not self.dynamic:
            return super().address(view, coords)
        terms = [self.num(view.offset)]
        terms += [f"{c}*{self.num(s)}" for c, s in zip(coords, view.strides) if c != "0"]
        return "+".join(terms)

    def valid(self, view: View, coords: list[str]) -> str | None:
        """Mask checks; dynamic mode checks every axis of a masked view."""
        if view.mask is None or not self.dynamic:
            return super().valid(view, coords)
        return "&&".join(f"({c}>={self.num(b)}&&{c}<{self.num(e)})"
                         for c, (b, e) in zip(coords, view.mask))

    # --- the kernel function --------------------------------------------------------------

    def function(self, kernel: Kernel, body: list[str]) -> str:
        """The kernel function: buffers, scratch buffers of a two-pass reduction, random
        bases, parameters, the pass number, then the error flag."""
        g = self.spell["global"]
        args = [f"{g} {self.storage_type(d)}* b{i}" for i, d in enumerate(kernel.buffers)]
        args += [f"{g} {self.storage_type(d)}* t{k}" for k, (_, d) in self._parts_of.items()]
        args += [f"{self.i64} rnd{k}" for k in range(kernel.random_params)]
        args += [f"{self.i64} {name}" for name in self.param_names]
        args += [f"{self.i64} zpass"] if self._parts else []
        if kernel.checks_indices:
            args.append(f"{g} int* zerr")
        flag = ["if (err) zerr[0] = 1;"] if kernel.checks_indices else []
        lines = [f"{self.spell['kernel']} {kernel.name}({', '.join(args)}) {{", "int err = 0;",
                 *body, *flag, "}"]
        return self.prelude + "\n".join(lines) + "\n"

    def split(self, flat: str, axes: list[int], sizes: list[str]) -> list[str]:
        """Declare coordinates i<axis> of ``axes`` from the flat index ``flat``."""
        if not axes:
            return []
        t = f"t{self._fresh()}"
        out = [f"{self.i64} {t} = {flat};"]
        for d, size in zip(reversed(axes), reversed(sizes)):
            out.append(f"{self.i64} i{d} = {t} % {size}; {t} /= {size};")
        return out

    def total(self, axes: list[int]) -> str:
        """The number of points of ``axes`` as an expression."""
        return "*".join(f"({self.i64}){self.size(d)}" for d in axes) or "1"

    def loops(self, kernel: Kernel, body: list[str]) -> list[str]:
        """Kept axes: one work-item per point (elementwise) or one group per row (in pass 0
        of a two-pass reduction, ``parts`` groups per row)."""
        kept = [d for d in range(len(kernel.shape)) if d not in kernel.reduce_axes]
        sizes = [self.size(d) for d in kept]
        if not kernel.reduce_axes:
            gid = self.spell["gid"].format(0)
            return [f"{self.i64} gid = {gid};", f"if (gid < {self.total(kept)}) {{",
                    *self.split("gid", kept, sizes), *body, "}"]
        group = self.spell["group_id"].format(0)
        head = [f"{self.i64} row = {group};", f"int lid = {self.spell['lid'].format(0)};"]
        if self._parts:
            head += [f"{self.i64} part = row % {self.parts()}; if (zpass == 0) row /= "
                     f"{self.parts()};"]
        return self._scratch + head + self.split("row", kept, sizes) + body

    def inner_loops(self, kernel: Kernel, body: list[str], stage: Stage) -> list[str]:
        """Reduce axes: the group strides over the row (and combines reductions as a tree)."""
        inner = list(kernel.reduce_axes)
        if not inner:
            return body
        loop = self.row_loop(kernel, body, stage)
        if stage.kind != "reduce":
            return loop
        k = kernel.stages.index(stage)
        acc, scratch = f"a{k}", f"s{k}"
        dtype = stage.value.dtype
        self._scratch.append(f"{self.spell['local']} {self.acc_type(stage, dtype)} "
                             f"{scratch}[{self.group}];")
        bar = self.spell["barrier"]
        if stage.op is Op.SUM:
            combine = f"{scratch}[lid] += {scratch}[lid + s];"
        else:
            x, y = f"{scratch}[lid]", f"{scratch}[lid + s]"
            nan = f"||{y}!={y}" if dtype.is_floating_point else ""
            combine = f"if ({y}>{x}{nan}) {x} = {y};"
        return loop + [f"{scratch}[lid] = {acc};", bar,
                       f"for (int s = {self.group // 2}; s > 0; s >>= 1) {{",
                       f"if (lid < s) {{ {combine} }}", bar, "}",
                       f"{acc} = {scratch}[0];", bar, *self.partial_store(stage, k)]

    def row_loop(self, kernel: Kernel, body: list[str], stage: Stage) -> list[str]:
        """The group's strided loop over the row around ``body``. In a two-pass reduction,
        pass 0 covers the part of the row this group owns and pass 1 folds the partial
        results of the row's groups (``t<k>``) instead."""
        inner = list(kernel.reduce_axes)
        total = self.total(inner)
        first, end = "lid", total
        if self._parts:
            chunk = f"(({total} + {self.parts()} - 1) / {self.parts()})"
            first, end = f"part * {chunk} + lid", f"min({total}, (part + 1) * {chunk})"
        decl = []
        if stage.kind == "reduce" and self._kahan(stage, stage.value.dtype):
            decl = [f"float a{kernel.stages.index(stage)}c = 0;"]
        loop = [f"for ({self.i64} j = {first}; j < {end}; j += {self.group}) {{",
                *self.split("j", inner, [self.size(d) for d in inner]), *body, "}"]
        if not self._parts:
            return decl + loop
        k = kernel.stages.index(stage)
        fold = self.accumulate(stage, stage.value.dtype, f"a{k}",
                               f"t{k}[row * {self.parts()} + j]")
        return decl + ["if (zpass == 0) {", *loop, "} else {",
                       f"for ({self.i64} j = lid; j < {self.parts()}; j += {self.group}) "
                       f"{{ {fold} }}", "}"]

    def partial_store(self, stage: Stage, k: int) -> list[str]:
        """Pass 0 of a two-pass reduction: work-item 0 stores the group's partial result."""
        if not self._parts:
            return []
        return [f"if (zpass == 0 && lid == 0) t{k}[row * {self.parts()} + part] = a{k};"]

    # --- two-pass reductions and vector elementwise kernels: the choices -----------------

    def two_pass(self, kernel: Kernel) -> int:
        """Partial results per row when ``kernel`` takes two passes (else 0): a few long
        rows, only reduce and row stages, and no reduction reading another's result."""
        if not kernel.reduce_axes or kernel.special:
            return 0
        length = _prod(kernel.shape[d] for d in kernel.reduce_axes)
        rows = _prod(kernel.shape) // max(length, 1)
        if length < LONG_ROW or rows > FEW_ROWS or any(
                s.kind == "full" or (s.kind == "reduce" and any(
                    n.kind == "acc" for n in walk(s.value))) for s in kernel.stages):
            return 0
        return max(2, min(MAX_PARTS, length // (self.group * PART)))

    def scratch(self, kernel: Kernel) -> list[tuple[int, DType]]:
        """Scratch buffers (count, dtype) the launches of ``kernel`` share: one per reduce
        stage of a two-pass reduction, holding every row's partial results."""
        parts = self.two_pass(kernel)
        if not parts:
            return []
        rows = _prod(kernel.shape) // _prod(kernel.shape[d] for d in kernel.reduce_axes)
        return [(rows * parts, self._acc_dtype(s)) for s in kernel.stages if s.kind == "reduce"]

    def _acc_dtype(self, stage: Stage) -> DType:
        dtype = stage.value.dtype
        if stage.op is Op.SUM:
            return (float64 if self.fp64 else float32) if dtype.is_floating_point else int64
        return float32 if dtype.name in ("float16", "bfloat16") else dtype

    def vector(self, kernel: Kernel) -> bool:
        """Whether each work-item of elementwise ``kernel`` takes :data:`WIDTH` neighbours
        along the last axis: no mask, gather or random (they index by coordinates), and in
        static mode every store contiguous and every load contiguous or broadcast along the
        last axis. Dynamic (eager) kernels check their strides when they run instead, so
        they have as many programs (each a build) as scalar ones would."""
        if kernel.reduce_axes or kernel.special or not kernel.shape or \
                (not self.dynamic and kernel.shape[-1] < WIDTH):
            return False
        for stage in kernel.stages:
            view = kernel.store_view(stage)
            if stage.kind != "full" or view.mask is not None or \
                    (view.strides[-1] != 1 and not self.dynamic):
                return False
            for n in walk(stage.value):
                if n.kind in ("gather", "random") or n.kind == "load" and (
                        n.arg[1].mask is not None or
                        (n.arg[1].strides[-1] not in (0, 1) and not self.dynamic)):
                    return False
        return True

    def vload(self, dtype: DType, buf: int, index: str, width: int,
              stride: str | None = None) -> tuple[list[str], list[str]]:
        """Dialect: ``width`` neighbours from ``index`` of buffer ``buf`` (where ``stride``,
        a parameter, is 0 rather than 1: one element, broadcast): (declarations, one
        compute expression per lane). The base reads them one by one."""
        step = f"*{stride}" if stride else ""
        return [], [self.load(dtype, buf, f"({index})+{lane}{step}") for lane in range(width)]

    def vstore(self, dtype: DType, buf: int, index: str, values: list[str]) -> str:
        """Dialect: store compute ``values`` at ``index`` and its neighbours. The base
        stores them one by one."""
        return " ".join(self.store(dtype, buf, f"({index})+{lane}", v)
                        for lane, v in enumerate(values))

    def render_vector(self, kernel: Kernel) -> str:
        """An elementwise kernel with :data:`WIDTH` neighbours per work-item (see
        :meth:`vector`): vector loads and stores, each lane's arithmetic in scalars (so
        results are those of the scalar kernel), a scalar loop for a short tail and, in
        dynamic mode, for strides other than 0 and 1 (loads) or 1 (stores)."""
        nd, full = len(kernel.shape), set(range(len(kernel.shape)))
        last, n = nd - 1, self.size(nd - 1)
        coords = [f"i{d}" for d in range(nd)]
        vector: list[str] = []
        tail: list[str] = []
        checks: list[str] = []  # dynamic mode: the strides the vector path needs
        for stage in kernel.stages:  # stage by stage: a later stage may read an earlier one
            dtype, store = stage.value.dtype, kernel.store_view(stage)
            lanes: list[dict[tuple, str]] = [{} for _ in range(WIDTH)]
            for node in walk(stage.value):
                if node.kind != "load" or node.key() in lanes[0] or \
                        (node.arg[1].strides[-1] == 0 and not self.dynamic):
                    continue
                stride = self.num(node.arg[1].strides[-1]) if self.dynamic else None
                checks += [f"({stride}==0||{stride}==1)"] if stride else []
                decl, values = self.vload(node.dtype, node.arg[0],
                                          self.address(node.arg[1], coords), WIDTH, stride)
                vector += decl
                for lane, value in enumerate(values):
                    name = f"v{self._fresh()}"
                    vector.append(f"{self.compute_type(node.dtype)} {name} = {value};")
                    lanes[lane][node.key()] = name
            results = [self.expr_lines(stage.value, full, names, vector) for names in lanes]
            vector.append(self.vstore(dtype, stage.out, self.address(store, coords), results))
            checks += [f"{self.num(store.strides[-1])}==1"] if self.dynamic else []
            value = self.expr_lines(stage.value, full, {}, tail)
            tail.append(self.store(dtype, stage.out, self.address(store, coords), value))
        quads = f"(({n} + {WIDTH - 1}) / {WIDTH})"
        sizes = [self.size(d) for d in range(last)] + [quads]
        gid = self.spell["gid"].format(0)
        body = [f"{self.i64} gid = {gid};",
                f"if (gid < {self.total(list(range(last)))} * {quads}) {{",
                *self.split("gid", list(range(nd)), sizes), f"i{last} *= {WIDTH};",
                f"if (i{last} + {WIDTH} <= {n}{''.join('&&' + c for c in checks)}) {{",
                *vector, "} else {",
                f"for ({self.i64} e = min(({self.i64}){n}, i{last} + {WIDTH}); i{last} < e; "
                f"i{last}++) {{", *tail, "}", "}", "}"]
        return self.function(kernel, body)

    def render(self, kernel: Kernel) -> tuple[str, list[int]]:
        """Source and parameters; reductions store their row results from work-item 0."""
        self._scratch: list[str] = []
        self._grouped = bool(kernel.reduce_axes)  # one work-group per row
        self._parts, self._parts_text = self.two_pass(kernel), ""
        reduces = [k for k, s in enumerate(kernel.stages) if s.kind == "reduce"]
        self._parts_of = dict(zip(reduces, self.scratch(kernel)))
        if kernel.special == "matmul" or self.vector(kernel):
            self.params, self.param_names, self._names = [], [], 0
            self._shape = kernel.shape
            if self.dynamic:
                self.params += list(kernel.shape)
                self.param_names += [f"n{d}" for d in range(len(kernel.shape))]
            if kernel.special == "matmul":
                return self.render_matmul(kernel), self.params
            return self.render_vector(kernel), self.params
        return super().render(kernel)

    def parts(self) -> str:
        """The number of partial results per row of a two-pass reduction, in the source (a
        parameter in dynamic mode, made on first use)."""
        if not self._parts_text:
            self._parts_text = self.num(self._parts)
        return self._parts_text

    def row_store(self, dtype: DType, buf: int, index: str, value: str) -> str:
        """Row results of a reduction are stored once, by work-item 0."""
        text = self.store(dtype, buf, index, value)
        if self._parts:
            return f"if (zpass == 1 && lid == 0) {{ {text} }}"
        return f"if (lid == 0) {{ {text} }}" if self._grouped else text

    # --- launch geometry ------------------------------------------------------------------

    def launches(self, kernel: Kernel) -> list[Any]:
        """The geometry of each launch: pass 0 and pass 1 of a two-pass reduction (each
        gets its pass number as its last integer argument), else the one launch."""
        parts = self.two_pass(kernel)
        if not parts:
            return [self.geometry(kernel)]
        rows = _prod(kernel.shape) // _prod(kernel.shape[d] for d in kernel.reduce_axes)
        return [((rows * parts * self.group,), (self.group,)),
                ((rows * self.group,), (self.group,))]

    def geometry(self, kernel: Kernel) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(global size, local size) of ``kernel``'s (single) launch."""
        shape = kernel.shape
        if kernel.special == "matmul":
            m, n = shape[-3], shape[-2]
            batch = _prod(shape[:-3])
            side = TILE // BLOCK
            return (-(-n // TILE) * side, -(-m // TILE) * side, batch), (side, side, 1)
        if kernel.special == "scatter_add":
            axis, out_shape = kernel.special_arg
            count = _prod(s for d, s in enumerate(out_shape) if d != axis)
        elif kernel.reduce_axes:
            rows = _prod(s for d, s in enumerate(shape) if d not in kernel.reduce_axes)
            return (rows * self.group,), (self.group,)
        elif self.vector(kernel):
            count = _prod(shape[:-1]) * -(-shape[-1] // WIDTH)
        else:
            count = _prod(shape)
        return (max(1, -(-count // self.group)) * self.group,), (self.group,)

    # --- hand-lowered kernels ---------------------------------------------------------------

    def render_scatter(self, kernel: Kernel) -> str:
        """One work-item per line of the output along the scatter axis: it zeroes its line,
        then adds the sources whose index points into it, in index order. Lines never
        overlap, so there are no races and no atomics, and the sums are the same run after
        run."""
        axis, out_shape = kernel.special_arg
        out = kernel.stages[0].out
        dtype = kernel.buffers[out]
        others = [d for d in range(len(out_shape)) if d != axis]
        sizes = [self.num(out_shape[d]) for d in others]
        length = self.num(out_shape[axis])
        line = View(out_shape, contiguous_strides(out_shape))
        at = self.address(line, [f"i{d}" if d != axis else "z" for d in range(len(out_shape))])
        body = [f"{self.i64} gid = {self.spell['gid'].format(0)};",
                f"if (gid < {'*'.join(f'({self.i64}){s}' for s in sizes) or '1'}) {{",
                *self.split("gid", others, sizes),
                f"for ({self.i64} z = 0; z < {length}; z++) "
                f"{self.store(dtype, out, at, self.constant(dtype, 0))}"]
        lines: list[str] = []
        names: dict[tuple, str] = {}
        idx = self.expr_lines(kernel.stages[0].value, set(range(len(kernel.shape))), names,
                              lines)
        src_lines: list[str] = []
        src = self.expr_lines(kernel.stages[1].value, set(range(len(kernel.shape))), names,
                              src_lines)
        at = self.address(line, [f"i{d}" if d != axis else "z" for d in range(len(out_shape))])
        total = self.cast(dtype, dtype, f"{self.load(dtype, out, at)} + {src}")
        lines += [f"{self.i64} z = ({self.i64}){idx};",  # negative: an error, as in PyTorch
                  f"if (z < 0 || z >= {length}) err = 1; else {{", *src_lines,
                  self.store(dtype, out, at, total), "}"]
        inside = " && ".join(f"i{d} < {self.size(d)}" for d in others) or "1"
        body += [f"{self.i64} i{axis} = 0;", f"if ({inside}) {{",
                 f"for (i{axis} = 0; i{axis} < {self.size(axis)}; i{axis}++) {{", *lines,
                 "}", "}", "}"]
        return self.function(kernel, body)

    def render_matmul(self, kernel: Kernel) -> str:
        """Tiled MATMUL over (*batch, M, N, K): see the module docstring."""
        nd = len(kernel.shape)
        md, nd_, kd = nd - 3, nd - 2, nd - 1
        a_load, b_load = kernel.stages[0].value.src
        dtype, out = kernel.buffers[0], kernel.stages[0].out
        ct = self.compute_type(dtype)
        side, loc = TILE // BLOCK, self.spell["local"]
        m, n, k = self.size(md), self.size(nd_), self.size(kd)
        batch = list(range(md))
        body = [f"{loc} {ct} As[{DEPTH}][{TILE}];", f"{loc} {ct} Bs[{DEPTH}][{TILE + 1}];",
                f"int lx = {self.spell['lid'].format(0)}, ly = {self.spell['lid'].format(1)};",
                f"int lid = ly * {side} + lx;",
                f"{self.i64} tn0 = ({self.i64}){self.spell['group_id'].format(0)} * {TILE};",
                f"{self.i64} tm0 = ({self.i64}){self.spell['group_id'].format(1)} * {TILE};",
                *self.split(self.spell["group_id"].format(2), batch,
                            [self.size(d) for d in batch]),
                f"{ct} acc[{BLOCK}][{BLOCK}];",
                f"for (int r = 0; r < {BLOCK}; r++) for (int c = 0; c < {BLOCK}; c++) "
                f"acc[r][c] = 0;",
                f"for ({self.i64} k0 = 0; k0 < {k}; k0 += {DEPTH}) {{"]
        full = set(range(nd))
        for name, load, rows, first, row_axis, col_axis in (
                ("As", a_load, "tm0", "mm", md, kd), ("Bs", b_load, "tn0", "nn", nd_, kd)):
            lines: list[str] = []
            value = self.expr_lines(load, full, {}, lines)
            limit = m if row_axis == md else n
            body += [f"for (int e = lid; e < {DEPTH * TILE}; e += {side * side}) {{",
                     f"int {first} = e % {TILE}, kk = e / {TILE};",
                     f"{self.i64} i{row_axis} = {rows} + {first}, i{col_axis} = k0 + kk;",
                     f"{self.i64} i{nd_ if row_axis == md else md} = 0;",
                     f"if (i{row_axis} < {limit} && i{col_axis} < {k}) {{", *lines,
                     f"{name}[kk][{first}] = {value}; }} else {name}[kk][{first}] = 0;", "}"]
        body += [self.spell["barrier"],
                 f"for (int kk = 0; kk < {DEPTH}; kk++) {{",
                 f"{ct} x[{BLOCK}], y[{BLOCK}];",
                 f"for (int r = 0; r < {BLOCK}; r++) x[r] = As[kk][ly + {side} * r];",
                 f"for (int c = 0; c < {BLOCK}; c++) y[c] = Bs[kk][lx + {side} * c];",
                 f"for (int r = 0; r < {BLOCK}; r++) for (int c = 0; c < {BLOCK}; c++) "
                 f"acc[r][c] += x[r] * y[c];", "}", self.spell["barrier"], "}"]
        base = "0" if not batch else "(" + "+".join(
            f"i{d}*{s}" for d, s in zip(batch, self._batch_strides(kernel))) + ")"
        store = self.store(dtype, out, f"{base} + mi * {n} + ni",
                                self.round_half(dtype, "acc[r][c]"))
        body += [f"for (int r = 0; r < {BLOCK}; r++) for (int c = 0; c < {BLOCK}; c++) {{",
                 f"{self.i64} mi = tm0 + ly + {side} * r, ni = tn0 + lx + {side} * c;",
                 f"if (mi < {m} && ni < {n}) {store}", "}"]
        return self.function(kernel, body)

    def _batch_strides(self, kernel: Kernel) -> list[str]:
        """Strides of the batch axes in the contiguous (*batch, M, N) output."""
        shape = kernel.shape[:-1]
        if not self.dynamic:
            return [str(s) for s in contiguous_strides(shape)[:-2]]
        out, step = [], f"(({self.i64}){self.size(len(shape) - 2)}*{self.size(len(shape) - 1)})"
        for d in reversed(range(len(shape) - 2)):
            out.append(step)
            step = f"({step}*{self.size(d)})"
        return list(reversed(out))


def _prod(values: Any) -> int:
    out = 1
    for v in values:
        out *= v
    return out
