"""Renderer base for C-like dialects: IR Kernel -> source text.

Everything that C, OpenCL C, CUDA C and most vendor kernel languages share lives here: index
arithmetic through views (strides, offset, mask), the expression of every elementwise
primitive, accumulators, casts, the counter-based random hash and gather addressing. A
dialect subclasses :class:`CLikeRenderer` and fills in the hooks marked "dialect": type names,
the function signature, how kept axes are iterated (serial loops + OpenMP on the CPU, thread
indices on a GPU), and math function names.

Two modes: *static* bakes every size, stride and offset into the source (jit kernels, which
the C compiler can vectorize), *dynamic* passes them as integer parameters so one compiled
kernel serves every shape of the same structure (eager mode, where compile time dominates).
"""

from __future__ import annotations

from typing import Any

from zili.compiler.ir import Kernel, Stage, UOp, walk
from zili.dtype import DType
from zili.dtype import uint32 as _UINT32
from zili.ops import Op
from zili.ops.view import View, contiguous_strides

GOLDEN = 0x9E3779B97F4A7C15

# Every elementwise primitive as an expression over its operands {0} {1} {2}, keyed by (op,
# dtype family) with (op, None) the general entry. {ct} is the compute type, {i64} the
# dialect's 64-bit integer, {one} the literal 1, {fn} the dialect's math function.
ALU: dict[tuple[Op, str | None], str] = {
    (Op.NEG, None): "(-{0})", (Op.NEG, "bool"): "(!{0})",
    (Op.EXP2, None): "{fn}({0})", (Op.LOG2, None): "{fn}({0})",
    (Op.SIN, None): "{fn}({0})", (Op.SQRT, None): "{fn}({0})",
    (Op.RECIPROCAL, None): "({one}/{0})",
    (Op.ADD, None): "({0}+{1})", (Op.ADD, "bool"): "({0}|{1})",
    (Op.SUB, None): "({0}-{1})",
    (Op.MUL, None): "({0}*{1})", (Op.MUL, "bool"): "({0}&{1})",
    (Op.DIV, "float"): "({0}/{1})", (Op.DIV, None): "({ct})zili_floordiv(({i64}){0},({i64}){1})",
    (Op.MOD, "float"): "({ct})zili_fmod((double){0},(double){1})",
    (Op.MOD, None): "({ct})zili_imod(({i64}){0},({i64}){1})",
    (Op.MAX, "float"): "((({0}>{1})||{0}!={0})?{0}:{1})", (Op.MAX, None): "(({0}>{1})?{0}:{1})",
    (Op.CMPLT, None): "({0}<{1})", (Op.CMPEQ, None): "({0}=={1})",
    (Op.AND, None): "({0}&{1})", (Op.OR, None): "({0}|{1})", (Op.XOR, None): "({0}^{1})",
    (Op.WHERE, None): "({0}?{1}:{2})",
}


class CLikeRenderer:
    """Shared rendering of kernels for C-like languages; see the module docstring."""

    # dialect: names of math functions, the 64-bit integer types, literal suffixes
    math = {Op.EXP2: "exp2", Op.LOG2: "log2", Op.SIN: "sin", Op.SQRT: "sqrt"}
    float_math: dict[Op, str] = {}  # dialect: own float32 functions that replace ``math``'s
    prelude = ""  # helper functions every kernel of the dialect starts with
    float_suffix = True  # exp2f for float (C); False where math functions are overloaded
    i64, u64, i64_suffix, u64_suffix, i64_min = "long long", "unsigned long long", "LL", \
        "ULL", "LLONG_MIN"

    def __init__(self, dynamic: bool = False):
        self.dynamic = dynamic
        self.params: list[int] = []
        self.param_names: list[str] = []

    # --- dialect hooks -------------------------------------------------------------------

    def storage_type(self, dtype: DType) -> str:
        """Dialect: the element type of a buffer of ``dtype``."""
        raise NotImplementedError

    def compute_type(self, dtype: DType) -> str:
        """Dialect: the type values of ``dtype`` are computed in (half types widen)."""
        raise NotImplementedError

    def load_value(self, dtype: DType, text: str) -> str:
        """Dialect: convert a stored element to its compute type."""
        return text

    def store_value(self, dtype: DType, text: str) -> str:
        """Dialect: convert a compute value to the stored element type."""
        return text

    def round_half(self, dtype: DType, text: str) -> str:
        """Dialect: round a compute value to ``dtype`` precision (half types only)."""
        return text

    def load(self, dtype: DType, buf: int, index: str) -> str:
        """Dialect: element ``index`` of buffer ``buf`` as a compute value."""
        return self.load_value(dtype, f"b{buf}[{index}]")

    def store(self, dtype: DType, buf: int, index: str, value: str) -> str:
        """Dialect: the statement storing compute ``value`` at ``index`` of buffer ``buf``."""
        return f"b{buf}[{index}] = {self.store_value(dtype, value)};"

    def row_store(self, dtype: DType, buf: int, index: str, value: str) -> str:
        """Dialect: a store made once per row of a reduction (a work-group device lets one
        work-item make it)."""
        return self.store(dtype, buf, index, value)

    def note(self, kernel: Kernel) -> str:
        """Dialect: what ``ZILI_DEBUG`` adds to a kernel's description (its loop shape)."""
        return ""

    def geometry(self, kernel: Kernel) -> Any:
        """Dialect: the launch geometry of the last rendered kernel (None: the kernel loops
        itself, as on the CPU)."""
        return None

    def launches(self, kernel: Kernel) -> list[Any]:
        """Dialect: the geometry of each launch the kernel takes; with more than one, each
        launch gets its number as a last integer argument (a two-pass reduction)."""
        return [self.geometry(kernel)]

    def scratch(self, kernel: Kernel) -> list[tuple[int, DType]]:
        """Dialect: scratch buffers (count, dtype) the kernel's launches share, passed after
        its buffers (partial results of a two-pass reduction)."""
        return []

    def function(self, kernel: Kernel, body: list[str]) -> str:
        """Dialect: the whole kernel function around the rendered ``body``."""
        raise NotImplementedError

    def loops(self, kernel: Kernel, body: list[str]) -> list[str]:
        """Dialect: iterate the kept axes around the per-row ``body``."""
        raise NotImplementedError

    def inner_loops(self, kernel: Kernel, body: list[str], stage: Stage) -> list[str]:
        """Dialect: iterate the reduce axes around a stage's ``body``."""
        raise NotImplementedError

    # --- numbers -------------------------------------------------------------------------

    def num(self, value: int, literal: bool = False) -> str:
        """An integer in the source: a literal, or in dynamic mode a parameter."""
        if not self.dynamic or literal:
            return f"{value}{self.i64_suffix}" if abs(value) > 2**31 - 1 else str(value)
        self.params.append(int(value))
        name = f"p{len(self.params) - 1}"
        self.param_names.append(name)
        return name

    def size(self, axis: int) -> str:
        """The size of iteration axis ``axis`` (one parameter per axis in dynamic mode)."""
        if not self.dynamic:
            return str(self._shape[axis])
        return f"n{axis}"

    # --- index arithmetic ---------------------------------------------------------------

    def var(self, axis: int, scope: set[int]) -> str:
        """The loop variable of ``axis``, or 0 where the axis is not iterated here."""
        return f"i{axis}" if axis in scope else "0"

    def index_of(self, buf: int, view: View, coords: list[str]) -> str:
        """Where buffer ``buf`` is read or written at ``coords`` through ``view`` (a dialect
        keeping some buffers elsewhere, such as per-row scratch, overrides this)."""
        return self.address(view, coords)

    def address(self, view: View, coords: list[str]) -> str:
        """offset + sum(coord * stride) for ``view`` at ``coords``."""
        terms = [] if view.offset == 0 else [self.num(view.offset)]
        for c, stride in zip(coords, view.strides):
            if stride == 0 or c == "0":
                continue
            terms.append(c if stride == 1 else f"{c}*{self.num(stride, stride in (-1,))}")
        return "+".join(terms) or "0"

    def valid(self, view: View, coords: list[str]) -> str | None:
        """The mask condition of ``view`` at ``coords``, or None when it has no mask."""
        if view.mask is None:
            return None
        checks = []
        for c, (b, e), size in zip(coords, view.mask, view.shape):
            if b == 0 and e == size:
                continue
            checks.append(f"({c}>={self.num(b)}&&{c}<{self.num(e)})")
        return "&&".join(checks) or None

    # --- expressions ------------------------------------------------------------------------

    def expr_lines(self, root: UOp, scope: set[int], names: dict[tuple, str],
                   lines: list[str]) -> str:
        """Emit one local variable per node under ``root`` (shared subexpressions once) and
        return the name holding ``root``'s value."""
        for node in walk(root):
            key = node.key()
            if key in names:
                continue
            text = self.expr(node, [names[s.key()] for s in node.src], scope, lines)
            name = f"v{self._fresh()}"
            names[key] = name
            lines.append(f"{self.compute_type(node.dtype)} {name} = {text};")
        return names[root.key()]

    def expr(self, node: UOp, src: list[str], scope: set[int], lines: list[str]) -> str:
        """The value of one node as an expression over its sources' variable names."""
        kind = node.kind
        if kind == "const":
            return self.constant(node.dtype, node.arg)
        if kind == "load":
            buf, view = node.arg
            coords = [self.var(d, scope) for d in range(len(view.shape))]
            value = self.load(node.dtype, buf, self.index_of(buf, view, coords))
            cond = self.valid(view, coords)
            return value if cond is None else f"({cond})?{value}:{self.constant(node.dtype, 0)}"
        if kind == "acc":
            return f"r{node.arg}"
        if kind == "cast":
            return self.cast(node.src[0].dtype, node.dtype, src[0])
        if kind == "random":
            return self.random(node, scope, lines)
        if kind == "gather":
            return self.gather(node, src[0], scope, lines)
        return self.round_half(node.dtype, self.alu(node.arg, node.src[0].dtype, src))

    def constant(self, dtype: DType, value: Any) -> str:
        """A literal of ``dtype``."""
        if dtype.is_floating_point:
            value = float(value)
            if value != value:
                return "NAN"
            if value in (float("inf"), float("-inf")):
                return "INFINITY" if value > 0 else "(-INFINITY)"
            suffix = "f" if self.compute_type(dtype) == "float" else ""
            return f"{value!r}{suffix}"
        if dtype.name == "bool":
            return "1" if value else "0"
        value = int(value)
        if dtype.itemsize < 8:
            return str(value)  # fits an int literal (unsigned int: C converts it exactly)
        if dtype.is_signed:  # -2**63 has no literal: its magnitude does not fit
            return f"({value + 1}{self.i64_suffix}-1)" if value == -(1 << 63) else \
                f"{value}{self.i64_suffix}"
        return f"{value}{self.u64_suffix}"

    def cast(self, src: DType, dst: DType, text: str) -> str:
        """Convert a compute value of ``src`` to ``dst`` (to bool: nonzero)."""
        if dst.name == "bool":
            return f"({text}!=0)"
        return self.round_half(dst, f"({self.compute_type(dst)})({text})")

    def alu(self, op: Op, dtype: DType, s: list[str]) -> str:
        """One elementwise primitive on operands of ``dtype`` (already variable names), from
        the :data:`ALU` table: the entry for the dtype's family, else the general one."""
        family = "bool" if dtype.name == "bool" else \
            "float" if dtype.is_floating_point else "int"
        pattern = ALU.get((op, family)) or ALU.get((op, None))
        if pattern is None:
            raise NotImplementedError(f"renderer: no expression for primitive {op.value}")
        ct = self.compute_type(dtype)
        if op is Op.MUL and dtype.name == "uint16":
            # ushort * ushort is computed in int, where 65535 * 65535 overflows: use unsigned
            s = [f"({self.storage_type(_UINT32)}){s[0]}", s[1]]
        fn = self.math.get(op, "")
        if ct == "float" and fn:
            fn = self.float_math.get(op) or (f"{fn}f" if self.float_suffix else fn)
        return pattern.format(*s, ct=ct, i64=self.i64, one=self.constant(dtype, 1), fn=fn)

    def random(self, node: UOp, scope: set[int], lines: list[str]) -> str:
        """SplitMix64 of (base + flat position): the numpy device's numbers, bit for bit."""
        cs = contiguous_strides(self._shape)
        flat = self.address(View(self._shape, cs), [self.var(d, scope)
                                                    for d in range(len(self._shape))])
        base = f"rnd{node.arg}"
        x = f"x{self._fresh()}"
        u, suffix = self.u64, self.u64_suffix
        lines.append(f"{u} {x} = ({u}){base} + ({u})({flat});")
        lines.append(f"{x} ^= {x} >> 30; {x} *= 0xBF58476D1CE4E5B9{suffix}; {x} ^= {x} >> 27; "
                     f"{x} *= 0x94D049BB133111EB{suffix}; {x} ^= {x} >> 31;")
        if node.dtype.name == "float64":
            return f"(double)({x} >> 11) * (1.0 / 9007199254740992.0)"
        return f"(float)({x} >> 40) * (1.0f / 16777216.0f)"

    def gather(self, node: UOp, index: str, scope: set[int], lines: list[str]) -> str:
        """x read at the index value along the gather axis (outside [0, size), negative
        included, as in PyTorch, sets the kernel's error flag and reads 0)."""
        buf, view, axis = node.arg
        size = self.num(view.shape[axis])
        g = f"g{self._fresh()}"
        lines.append(f"{self.i64} {g} = ({self.i64}){index}; "
                     f"if ({g} < 0 || {g} >= {size}) {{ err = 1; {g} = 0; }}")
        coords = [g if d == axis else self.var(d, scope) for d in range(len(view.shape))]
        value = self.load(node.dtype, buf, self.address(view, coords))
        cond = self.valid(view, coords)
        return value if cond is None else f"({cond})?{value}:{self.constant(node.dtype, 0)}"

    def _fresh(self) -> int:
        """A number for a new local variable, unique in the kernel."""
        self._names += 1
        return self._names

    # --- kernels -------------------------------------------------------------------------

    def acc_type(self, stage: Stage, dtype: DType) -> str:
        """The accumulator type: wide for SUM (double for floats, 64-bit for integers)."""
        if stage.op is Op.SUM:
            return "double" if dtype.is_floating_point else self.i64
        return self.compute_type(dtype)

    def accumulate(self, stage: Stage, dtype: DType, acc: str, value: str) -> str:
        """The statement folding ``value`` into accumulator ``acc`` (AMAX keeps NaNs)."""
        if stage.op is Op.SUM:
            return f"{acc} += {value};"
        nan = f"||{value}!={value}" if dtype.is_floating_point else ""
        return f"if ({value}>{acc}{nan}) {acc} = {value};"

    def acc_init(self, stage: Stage, dtype: DType) -> str:
        """The identity of the reduction."""
        if stage.op is Op.SUM:
            return "0"
        if dtype.is_floating_point:
            return "(-INFINITY)"
        return self.constant(dtype, dtype.min)  # the type's smallest value

    def acc_result(self, stage: Stage, out_dtype: DType, acc: str) -> str:
        """A finished accumulator as a compute value of the output's dtype."""
        dtype = stage.value.dtype
        if stage.op is Op.SUM and dtype.name != "float64":
            return self.cast(dtype, out_dtype, acc)
        return acc

    def begin(self, kernel: Kernel) -> None:
        """Reset the per-kernel state (parameters, names) before rendering ``kernel``."""
        self.params, self.param_names = [], []
        self._shape, self._names = kernel.shape, 0
        if self.dynamic:
            self.params += list(kernel.shape)
            self.param_names += [f"n{d}" for d in range(len(kernel.shape))]

    def store_lines(self, kernel: Kernel, stage: Stage, scope: set[int]) -> list[str]:
        """A ``row`` or ``full`` stage's expression and its store at the coordinates of
        ``scope`` (the loops around it are the caller's)."""
        lines: list[str] = []
        value = self.expr_lines(stage.value, scope, {}, lines)
        coords = [self.var(d, scope) for d in range(len(kernel.shape))]
        address = self.index_of(stage.out, kernel.store_view(stage), coords)
        dtype = stage.value.dtype
        lines.append(self.store(dtype, stage.out, address, value) if stage.kind == "full"
                     else self.row_store(dtype, stage.out, address, value))
        return lines

    def render(self, kernel: Kernel) -> tuple[str, list[int]]:
        """Source text of ``kernel`` and (dynamic mode) the integer parameters to pass."""
        self.begin(kernel)
        if kernel.special == "scatter_add":
            return self.render_scatter(kernel), self.params
        kept = {d for d in range(len(kernel.shape)) if d not in kernel.reduce_axes}
        full = set(range(len(kernel.shape)))
        body: list[str] = []
        for k, stage in enumerate(kernel.stages):
            if stage.kind != "reduce":
                lines = self.store_lines(kernel, stage, full if stage.kind == "full" else kept)
                body += self.inner_loops(kernel, lines, stage) if stage.kind == "full" else lines
                continue
            lines = []
            value = self.expr_lines(stage.value, full, {}, lines)
            dtype = stage.value.dtype
            out_dtype = kernel.buffers[stage.out]
            acc = f"a{k}"
            body.append(f"{self.acc_type(stage, dtype)} {acc} = "
                        f"{self.acc_init(stage, dtype)};")
            lines.append(self.accumulate(stage, dtype, acc, value))
            body += self.inner_loops(kernel, lines, stage)
            body.append(f"{self.compute_type(out_dtype)} r{k} = "
                        f"{self.acc_result(stage, out_dtype, acc)};")
            store = kernel.store_view(stage)
            coords = [self.var(d, kept) for d in range(len(kernel.shape))]
            body.append(self.row_store(out_dtype, stage.out, self.address(store, coords),
                                       f"r{k}"))
        return self.function(kernel, self.loops(kernel, body)), self.params

    def render_scatter(self, kernel: Kernel) -> str:
        """Dialect: source of a ``special="scatter_add"`` kernel (out = 0; out[..,
        index[i], ..] += source[i] over the index's shape; 1 returned for an index out of
        range)."""
        raise NotImplementedError
