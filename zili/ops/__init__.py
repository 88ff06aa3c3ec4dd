"""The primitive op set: every device implements these and nothing more.

Everything else in zili (softmax, layer norm, attention, optimizers) is a composition of
these primitives, so a new chip is ready once it runs this table. ``PRIMITIVES`` documents
why each op is in the set; ``elementwise_result`` is the single dtype/shape rule for the
elementwise family. Movement ops never reach a device: they only change a View.
"""

from __future__ import annotations

from enum import Enum

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


UNARY = frozenset({Op.NEG, Op.EXP2, Op.LOG2, Op.SIN, Op.SQRT, Op.RECIPROCAL, Op.CAST})
BINARY = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAX, Op.MOD, Op.CMPLT, Op.CMPEQ,
                    Op.AND, Op.OR, Op.XOR})
ELEMENTWISE = UNARY | BINARY | {Op.WHERE, Op.COPY}
REDUCE = frozenset({Op.SUM, Op.AMAX})
MOVEMENT = frozenset({Op.RESHAPE, Op.PERMUTE, Op.EXPAND, Op.SHRINK, Op.PAD, Op.FLIP})
COMPARISON = frozenset({Op.CMPLT, Op.CMPEQ})

# Why each op is here. A newcomer adding a device reads this table and implements the
# non-movement rows; `docs/architecture.md` renders the same table.
PRIMITIVES: dict[Op, str] = {
    Op.NEG: "negation; also the gradient of SUB",
    Op.EXP2: "2**x; exp(x) = exp2(x*log2(e)) and every exponential composite builds on it",
    Op.LOG2: "log base 2; log, pow and log_softmax build on it",
    Op.SIN: "sine; cos(x) = sin(x + pi/2) and Box-Muller sampling need it",
    Op.SQRT: "square root; norms and Adam need it and it is exact on every chip",
    Op.RECIPROCAL: "1/x; cheaper than DIV where one divisor serves many elements",
    Op.CAST: "convert the element type (float to int truncates toward zero)",
    Op.ADD: "addition",
    Op.SUB: "subtraction; one pass instead of ADD(NEG) on unfused devices",
    Op.MUL: "multiplication",
    Op.DIV: "true division for floats, floor division for integers (Python semantics)",
    Op.MAX: "elementwise maximum; relu and clamp build on it",
    Op.MOD: "remainder with the divisor's sign (Python and PyTorch semantics)",
    Op.CMPLT: "a < b as bool; every comparison and mask builds on it and CMPEQ",
    Op.CMPEQ: "a == b as bool",
    Op.AND: "bitwise/logical and (bool and integer)",
    Op.OR: "bitwise/logical or (bool and integer)",
    Op.XOR: "bitwise/logical xor; logical not is XOR with True",
    Op.WHERE: "select a or b by a bool condition; masking, relu's gradient, causal attention",
    Op.SUM: "sum over axes (keeps them as size 1); mean, var, softmax and every gradient of "
            "a broadcast need it",
    Op.AMAX: "maximum over axes; numerically stable softmax and logsumexp need it",
    Op.RESHAPE: "view: same elements, new shape (copies only when no strides can express it)",
    Op.PERMUTE: "view: reorder axes (transpose)",
    Op.EXPAND: "view: repeat size-1 axes with stride 0 (broadcasting)",
    Op.SHRINK: "view: a window along every axis (slicing)",
    Op.PAD: "view: zeros around every axis, as a mask (the gradient of SHRINK)",
    Op.FLIP: "view: reverse axes (negative strides)",
    Op.MATMUL: "batched matrix product of the last two axes; each device uses its BLAS",
    Op.GATHER: "out[..i..] = x[..index[..i..]..] along one axis (torch.gather); embeddings, "
               "cross-entropy and indexing",
    Op.SCATTER_ADD: "the adjoint of GATHER: add values into a zero tensor at indices",
    Op.RANDOM: "counter-based uniform floats in [0,1) from (seed, counter): the same numbers "
               "on every device",
    Op.COPY: "materialise a view as a contiguous buffer (and move between devices)",
}


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
    if op in (Op.EXP2, Op.LOG2, Op.SIN, Op.SQRT, Op.RECIPROCAL) and not \
            values[0].is_floating_point:
        raise TypeError(f"{op.value}: needs a floating-point tensor, got {values[0].name}; "
                        "cast it with .float() first")
    return bool_ if op in COMPARISON else values[0]
