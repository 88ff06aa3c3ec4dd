"""Data types and PyTorch's type-promotion rules.

A :class:`DType` is a small immutable record: its name, its NumPy equivalent (bfloat16 comes
from ``ml_dtypes``), its size and its category (bool < integer < floating). Promotion follows
PyTorch: the higher category wins; inside a category the wider type wins; float16 with
bfloat16 gives float32; uint8 with a signed integer gives the next signed type that holds both.
Python scalars do not widen a tensor of the same category (``float32_tensor * 2.5`` stays
float32), but lift an integer tensor to the default float type.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np


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
        return self.name not in ("bool", "uint8")


bool_ = DType("bool", 1, 0, np.bool_, "bool")
uint8 = DType("uint8", 1, 1, np.uint8, "unsigned char")
int32 = DType("int32", 4, 1, np.int32, "int")
int64 = DType("int64", 8, 1, np.int64, "long long")
float16 = DType("float16", 2, 2, np.float16, "_Float16")
bfloat16 = DType("bfloat16", 2, 2, ml_dtypes.bfloat16, "__bf16")
float32 = DType("float32", 4, 2, np.float32, "float")
float64 = DType("float64", 8, 2, np.float64, "double")

ALL_DTYPES = (bool_, uint8, int32, int64, float16, bfloat16, float32, float64)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NUMPY = {np.dtype(d.numpy): d for d in ALL_DTYPES}
# PyTorch's aliases, so `dtype="float"` or `zili.long` read as they do there.
_ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32}

default_float = float32

# Ranking used inside a category: (category, rank). float16 and bfloat16 share a rank, and
# their join is float32 (handled in promote_types).
_RANK = {bool_: 0, uint8: 1, int32: 3, int64: 4, float16: 1, bfloat16: 1, float32: 2, float64: 3}


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
    """Return the dtype PyTorch gives to a binary operation on tensors of dtypes ``a`` and ``b``."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.category == 2:
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if _RANK[a] > _RANK[b] else b
    if a.category == 1:
        if uint8 in (a, b):
            other = b if a is uint8 else a
            return other  # int32 and int64 both hold every uint8
        return a if _RANK[a] > _RANK[b] else b
    return a


def result_type(*operands: object) -> DType:
    """PyTorch's result type for tensors and Python scalars mixed in one operation.

    Three tiers decide, as in PyTorch: tensors with dimensions first; a 0-d tensor only
    when its category is higher; a Python scalar only when its category is higher still
    (an int tensor times 2.5 gives the default float dtype; a bool tensor plus 1 gives int64).

    Raises:
        TypeError: for an operand that is neither a tensor nor a Python scalar.
    """
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
    if zero_dim is not None and zero_dim.category > result.category:
        result = zero_dim
    if scalar_category > result.category:
        return (bool_, int64, default_float)[scalar_category]
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
