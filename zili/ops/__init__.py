"""The primitive op set: every device implements these and nothing more.

Everything else in zili (softmax, layer norm, attention, optimizers) is a composition of
these primitives, so a new chip is ready once it runs this table. ``FACTS`` is the one table
of per-op facts (kind, float-only, fusion cost, why the op is in the set); ``PRIMITIVES`` and
the op families below are read off it. ``elementwise_result`` is the single dtype/shape rule
for the elementwise family. Movement ops never reach a device: they only change a View.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from zili.dtype import DType, bool_


class Op(Enum):
    """Names of the primitive operations."""

    # unary elementwise
    NEG = "neg"
    EXP2 = "exp2"
    LOG2 = "log2"
    SIN = "sin"
    SQRT = "sqrt"
    RECIPROCAL = "reciprocal"
    CAST = "cast"
    # binary elementwise
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    MAX = "max"
    MOD = "mod"
    CMPLT = "cmplt"
    CMPEQ = "cmpeq"
    AND = "and"
    OR = "or"
    XOR = "xor"
    # ternary elementwise
    WHERE = "where"
    # reductions (output keeps reduced axes with size 1)
    SUM = "sum"
    AMAX = "amax"
    # movement: views, no device work
    RESHAPE = "reshape"
    PERMUTE = "permute"
    EXPAND = "expand"
    SHRINK = "shrink"
    PAD = "pad"
    FLIP = "flip"
    # the rest
    MATMUL = "matmul"
    GATHER = "gather"
    SCATTER_ADD = "scatter_add"
    RANDOM = "random"
    COPY = "copy"


class Facts(NamedTuple):
    """What the rest of zili needs to know about one primitive.

    ``kind``: unary, binary, ternary, reduce, movement or other. ``float_only``: the op
    rejects bool and integer tensors. ``cost``: what an inlined copy costs the fusion
    scheduler (1 for cheap arithmetic; :data:`EXPENSIVE` for transcendentals and divisions,
    which are computed once into a buffer rather than repeated in every consumer).
    ``why``: why the op is in the set (docs/architecture.md renders this column).
    """

    kind: str
    float_only: bool
    cost: int
    why: str


EXPENSIVE = 100

# The one table of per-op facts. A newcomer adding a device reads it and implements the
# non-movement rows; `docs/architecture.md` renders the same table.
FACTS: dict[Op, Facts] = {
    Op.NEG: Facts("unary", False, 1, "negation; also the gradient of SUB"),
    Op.EXP2: Facts("unary", True, EXPENSIVE, "2**x; exp(x) = exp2(x*log2(e)) and every "
                   "exponential composite builds on it"),
    Op.LOG2: Facts("unary", True, EXPENSIVE, "log base 2; log, pow and log_softmax build on it"),
    Op.SIN: Facts("unary", True, EXPENSIVE, "sine; cos(x) = sin(x + pi/2) and Box-Muller "
                  "sampling need it"),
    Op.SQRT: Facts("unary", True, EXPENSIVE, "square root; norms and Adam need it and it is "
                   "exact on every chip"),
    Op.RECIPROCAL: Facts("unary", True, EXPENSIVE, "1/x; cheaper than DIV where one divisor "
                         "serves many elements"),
    Op.CAST: Facts("unary", False, 1, "convert the element type (float to int truncates "
                   "toward zero)"),
    Op.ADD: Facts("binary", False, 1, "addition"),
    Op.SUB: Facts("binary", False, 1, "subtraction; one pass instead of ADD(NEG) on unfused "
                  "devices"),
    Op.MUL: Facts("binary", False, 1, "multiplication"),
    Op.DIV: Facts("binary", False, EXPENSIVE, "true division for floats, floor division for "
                  "integers (Python semantics)"),
    Op.MAX: Facts("binary", False, 1, "elementwise maximum; relu and clamp build on it"),
    Op.MOD: Facts("binary", False, EXPENSIVE, "remainder with the divisor's sign (Python and "
                  "PyTorch semantics)"),
    Op.CMPLT: Facts("binary", False, 1, "a < b as bool; every comparison and mask builds on it "
                    "and CMPEQ"),
    Op.CMPEQ: Facts("binary", False, 1, "a == b as bool"),
    Op.AND: Facts("binary", False, 1, "bitwise/logical and (bool and integer)"),
    Op.OR: Facts("binary", False, 1, "bitwise/logical or (bool and integer)"),
    Op.XOR: Facts("binary", False, 1, "bitwise/logical xor; logical not is XOR with True"),
    Op.WHERE: Facts("ternary", False, 1, "select a or b by a bool condition; masking, relu's "
                    "gradient, causal attention"),
    Op.SUM: Facts("reduce", False, 1, "sum over axes (keeps them as size 1); mean, var, "
                  "softmax and every gradient of a broadcast need it"),
    Op.AMAX: Facts("reduce", False, 1, "maximum over axes; numerically stable softmax and "
                   "logsumexp need it"),
    Op.RESHAPE: Facts("movement", False, 0, "view: same elements, new shape (copies only when "
                      "no strides can express it)"),
    Op.PERMUTE: Facts("movement", False, 0, "view: reorder axes (transpose)"),
    Op.EXPAND: Facts("movement", False, 0, "view: repeat size-1 axes with stride 0 "
                     "(broadcasting)"),
    Op.SHRINK: Facts("movement", False, 0, "view: a window along every axis (slicing)"),
    Op.PAD: Facts("movement", False, 0, "view: zeros around every axis, as a mask (the "
                  "gradient of SHRINK)"),
    Op.FLIP: Facts("movement", False, 0, "view: reverse axes (negative strides)"),
    Op.MATMUL: Facts("other", False, EXPENSIVE, "batched matrix product of the last two axes; "
                     "the compiler lowers it to a tiled kernel, a device may use its BLAS"),
    Op.GATHER: Facts("other", False, EXPENSIVE, "out[..i..] = x[..index[..i..]..] along one "
                     "axis (torch.gather); embeddings, cross-entropy and indexing"),
    Op.SCATTER_ADD: Facts("other", False, EXPENSIVE, "the adjoint of GATHER: add values into "
                          "a zero tensor at indices"),
    Op.RANDOM: Facts("other", False, EXPENSIVE, "counter-based uniform floats in [0,1) from "
                     "(seed, counter): the same numbers on every device"),
    Op.COPY: Facts("unary", False, 1, "materialise a view as a contiguous buffer (and move "
                   "between devices)"),
}

PRIMITIVES: dict[Op, str] = {op: facts.why for op, facts in FACTS.items()}
UNARY = frozenset(op for op, f in FACTS.items() if f.kind == "unary" and op is not Op.COPY)
BINARY = frozenset(op for op, f in FACTS.items() if f.kind == "binary")
ELEMENTWISE = UNARY | BINARY | {Op.WHERE, Op.COPY}
REDUCE = frozenset(op for op, f in FACTS.items() if f.kind == "reduce")
MOVEMENT = frozenset(op for op, f in FACTS.items() if f.kind == "movement")
COMPARISON = frozenset({Op.CMPLT, Op.CMPEQ})
FLOAT_ONLY = frozenset(op for op, f in FACTS.items() if f.float_only)


def elementwise_result(op: Op, dtypes: tuple[DType, ...]) -> DType:
    """Output dtype of an elementwise primitive whose inputs already share a dtype.

    Comparisons give bool; WHERE gives the dtype of its two value operands.

    Raises:
        TypeError: if the operands' dtypes differ (the tensor layer promotes before calling)
            or the op does not accept the dtype.
    """
    values = dtypes[1:] if op is Op.WHERE else dtypes
    if any(d is not values[0] for d in values):
        raise TypeError(f"{op.value}: operands must share one dtype after promotion, got "
                        f"{[d.name for d in dtypes]}")
    if op is Op.WHERE and dtypes[0] is not bool_:
        raise TypeError(f"where: the condition must be bool, got {dtypes[0].name}")
    if op in (Op.AND, Op.OR, Op.XOR) and values[0].is_floating_point:
        raise TypeError(f"{op.value}: needs bool or integer tensors, got {values[0].name}")
    if op in FLOAT_ONLY and not values[0].is_floating_point:
        raise TypeError(f"{op.value}: needs a floating-point tensor, got {values[0].name}; "
                        "cast it with .float() first")
    return bool_ if op in COMPARISON else values[0]
