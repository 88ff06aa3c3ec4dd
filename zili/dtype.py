"""Data types and PyTorch's type-promotion rules.

A :class:`DType` is a small immutable record: its name, its NumPy equivalent (bfloat16 comes
from ``ml_dtypes``), its size and its category (bool < integer < floating). Promotion follows
PyTorch: the higher category wins; inside a category the wider type wins; float16 with
bfloat16 gives float32; uint8 with a signed integer gives the next signed type that holds both.
Python scalars do not widen a tensor of the same category (``float32_tensor * 2.5`` stays
float32), but lift an integer tensor to the default float type.

uint16, uint32 and uint64 are PyTorch's "limited" unsigned types: PyTorch 2.13 promotes them
with nothing but themselves and floats, and implements only a few operations on them
(creation, copies and views, ``*``, true division, ``==``/``!=``, ``&``/``|``/``^``, sums,
products, sorting). zili does the same: :func:`check_supported` raises for the rest, naming
the operation and the dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from zili.errors import DTypeError


@dataclass(frozen=True, eq=True)
class DType:
    """One element type. ``category`` orders bool (0) < integer (1) < floating (2)."""

    name: str
    itemsize: int
    category: int
    numpy: type
    c_name: str

    def __repr__(self) -> str:
        return f"zili.{self.name}"

    @property
    def is_floating_point(self) -> bool:
        """True for float16, bfloat16, float32 and float64."""
        return self.category == 2

    @property
    def is_signed(self) -> bool:
        """True for signed integer and floating types."""
        return self.name != "bool" and not self.name.startswith("uint")

    @property
    def bits(self) -> int:
        """The width in bits."""
        return 8 * self.itemsize

    @property
    def min(self) -> int | float:
        """The smallest value (integers exactly; -inf for floats)."""
        if self.category == 2:
            return float("-inf")
        return -(1 << (self.bits - 1)) if self.is_signed else 0

    @property
    def max(self) -> int | float:
        """The largest value (integers exactly; inf for floats)."""
        if self.category == 2:
            return float("inf")
        if self.category == 0:
            return 1
        return (1 << (self.bits - 1)) - 1 if self.is_signed else (1 << self.bits) - 1


bool_ = DType("bool", 1, 0, np.bool_, "bool")
uint8 = DType("uint8", 1, 1, np.uint8, "unsigned char")
int8 = DType("int8", 1, 1, np.int8, "signed char")
int16 = DType("int16", 2, 1, np.int16, "short")
uint16 = DType("uint16", 2, 1, np.uint16, "unsigned short")
int32 = DType("int32", 4, 1, np.int32, "int")
uint32 = DType("uint32", 4, 1, np.uint32, "unsigned int")
int64 = DType("int64", 8, 1, np.int64, "long long")
uint64 = DType("uint64", 8, 1, np.uint64, "unsigned long long")
float16 = DType("float16", 2, 2, np.float16, "_Float16")
bfloat16 = DType("bfloat16", 2, 2, ml_dtypes.bfloat16, "__bf16")
float32 = DType("float32", 4, 2, np.float32, "float")
float64 = DType("float64", 8, 2, np.float64, "double")

ALL_DTYPES = (bool_, uint8, int8, int16, uint16, int32, uint32, int64, uint64, float16,
              bfloat16, float32, float64)
INTEGERS = (uint8, int8, int16, uint16, int32, uint32, int64, uint64)
# PyTorch's unsigned types with few kernels and no promotion with other integer types.
LIMITED = (uint16, uint32, uint64)
_LIMITED_NAMES = frozenset(d.name for d in LIMITED)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NUMPY = {np.dtype(d.numpy): d for d in ALL_DTYPES}
# PyTorch's aliases, so `dtype="float"` or `zili.long` read as they do there.
_ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32,
            "short": int16}
# Every name ``to_dtype`` accepts.
NAMES = frozenset(_BY_NAME) | frozenset(_ALIASES)

default_float = float32

# Ranking of floats: float16 and bfloat16 share a rank, and their join is float32 (handled in
# promote_types).
_RANK = {float16: 1, bfloat16: 1, float32: 2, float64: 3}
# What PyTorch allows on the LIMITED types (names as the tensor layer passes them to
# check_supported): everything else raises, as PyTorch's kernels do.
LIMITED_OPS = frozenset({"mul", "div", "cmpeq", "and", "or", "xor", "isclose", "where"})
# Arithmetic PyTorch refuses on bool tensors.
BOOL_REFUSED = frozenset({"sub", "remainder", "fmod", "div(rounding_mode='floor')",
                          "div(rounding_mode='trunc')", "neg"})


def to_dtype(value: object) -> DType:
    """Return the :class:`DType` for a DType, a name ('float32', 'half'), or a NumPy dtype.

    Raises:
        TypeError: if the value names no dtype zili supports.
    """
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        found = _BY_NAME.get(value) or _ALIASES.get(value)
        if found is None:
            raise TypeError(f"unknown dtype {value!r}; zili supports {sorted(_BY_NAME)}")
        return found
    if value is bool:
        return bool_
    if value is int:
        return int64
    if value is float:
        return default_float
    try:
        return _BY_NUMPY[np.dtype(value)]
    except (KeyError, TypeError):
        raise TypeError(
            f"unsupported dtype {value!r}; zili supports {sorted(_BY_NAME)} "
            "(convert the array with .astype first)"
        ) from None


def promote_types(a: DType, b: DType) -> DType:
    """Return the dtype PyTorch gives to a binary operation on tensors of dtypes ``a`` and ``b``.

    Raises:
        DTypeError: for uint16/uint32/uint64 with bool or another integer type (PyTorch
            promotes these only with themselves and floats).
    """
    if a is b:
        return a
    if (a in LIMITED or b in LIMITED) and not (a.is_floating_point or b.is_floating_point):
        raise DTypeError(f"promotion of {a.name} and {b.name} is not supported (PyTorch "
                         "promotes uint16, uint32 and uint64 only with themselves and floats); "
                         "convert one operand with .to() first")
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.category == 2:
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if _RANK[a] > _RANK[b] else b
    # integers: the signed type that holds both (uint8 with int8 needs int16)
    bits = max(a.bits if a.is_signed else 2 * a.bits, b.bits if b.is_signed else 2 * b.bits)
    return {8: int8, 16: int16, 32: int32}.get(bits, int64)


def check_supported(op: str, *types: DType) -> None:
    """Raise as PyTorch does when ``op`` has no kernel for uint16/uint32/uint64 (or is
    arithmetic PyTorch refuses on bool: -, %, rounded division).

    Raises:
        DTypeError: if one of ``types`` is one of :data:`LIMITED` and ``op`` is not in
            :data:`LIMITED_OPS` (or bool and ``op`` in :data:`BOOL_REFUSED`), naming the op,
            the dtype and the remedy.
    """
    # identity and names, not ``in`` on DTypes: their dataclass __eq__/__hash__ are Python
    # code, and this check runs on every eager binary op
    if op in BOOL_REFUSED and any(dt is bool_ for dt in types):
        raise DTypeError(f"{op}: not supported for bool tensors (as in PyTorch); use ^ or ~ "
                         "for logic, or convert with .to(zili.int64) first")
    if op in LIMITED_OPS:
        return
    for dt in types:
        if dt.name in _LIMITED_NAMES:
            raise DTypeError(f"{op}: not implemented for {dt.name} (as in PyTorch, uint16, "
                             "uint32 and uint64 support only creation, copies, views, *, /, "
                             "==, !=, &, |, ^, sum, prod, cumsum, sort and casts); convert "
                             "with .to(zili.int64) first")


def wrap_int(value: int, dtype: DType) -> int:
    """The integer ``value`` wrapped into ``dtype``'s range, as C and PyTorch do for a scalar
    operand (``int32 | 0xFFFFFFFF`` is ``int32 | -1``)."""
    if dtype.category == 0:
        return int(bool(value))
    value &= (1 << dtype.bits) - 1
    return value - (1 << dtype.bits) if dtype.is_signed and value > dtype.max else value


def check_int_range(value: int, dtype: DType, op: str) -> int:
    """``value`` wrapped into the integer ``dtype`` for a creation op (``tensor``, ``full``),
    which, as PyTorch, accepts the type's range and for unsigned types also negative values
    down to -2**(bits-1) (they wrap: -1 is the largest value).

    Raises:
        DTypeError: (a RuntimeError, as PyTorch's) for a value outside that range.
    """
    low = dtype.min if dtype.is_signed else -(1 << (dtype.bits - 1))
    if not low <= value <= dtype.max:
        raise DTypeError(f"{op}: value {value} cannot be converted to {dtype.name} without "
                            f"overflow (its range is [{low}, {dtype.max}])")
    return wrap_int(value, dtype)


def result_type(*operands: object, op: str | None = None) -> DType:
    """PyTorch's result type for tensors and Python scalars mixed in one operation.

    Three tiers decide, as in PyTorch: tensors with dimensions first; a 0-d tensor only
    when its category is higher; a Python scalar only when its category is higher still
    (an int tensor times 2.5 gives the default float dtype; a bool tensor plus 1 gives int64).

    Raises:
        TypeError: for an operand that is neither a tensor nor a Python scalar.
        DTypeError: for dtypes that do not promote (named with ``op`` when given).
    """
    try:
        return _result_type(operands)
    except DTypeError as e:
        raise DTypeError(f"{op}: {e}" if op else str(e)) from None


def _result_type(operands: tuple) -> DType:
    dimensioned: DType | None = None
    zero_dim: DType | None = None
    scalar_category = -1
    for x in operands:
        dt = getattr(x, "dtype", None)
        if isinstance(dt, DType):
            if getattr(x, "ndim", 1) == 0:
                zero_dim = dt if zero_dim is None else promote_types(zero_dim, dt)
            else:
                dimensioned = dt if dimensioned is None else promote_types(dimensioned, dt)
        elif isinstance(x, bool):
            scalar_category = max(scalar_category, 0)
        elif isinstance(x, int):
            scalar_category = max(scalar_category, 1)
        elif isinstance(x, float):
            scalar_category = max(scalar_category, 2)
        else:
            raise TypeError(f"cannot take the dtype of {type(x).__name__} {x!r}")
    if dimensioned is None:
        dimensioned, zero_dim = zero_dim, None
    if dimensioned is None:
        return (bool_, int64, default_float)[scalar_category]
    result = dimensioned
    # a higher tier joins by promote_types, as in PyTorch (bool with a 0-d uint32 raises)
    if zero_dim is not None and zero_dim.category > result.category:
        result = promote_types(result, zero_dim)
    if scalar_category > result.category:
        return promote_types(result, (bool_, int64, default_float)[scalar_category])
    return result


def python_scalar_dtype(value: object) -> DType:
    """The dtype a bare Python scalar becomes as a tensor (bool, int64 or the default float)."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    if isinstance(value, float):
        return default_float
    raise TypeError(f"expected a Python bool, int or float, got {type(value).__name__}")
