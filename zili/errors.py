"""Error classes shared by every layer.

PyTorch raises ``RuntimeError`` for shapes that do not fit (matmul, reshape, permute, gather,
broadcasting); zili raised ``ValueError``. :class:`ShapeError` derives from both, so code
written for either habit (``except RuntimeError`` as PyTorch users write, ``except
ValueError`` as zili's own callers do) keeps working.
"""

from __future__ import annotations


class ShapeError(RuntimeError, ValueError):
    """Shapes or sizes of the operands do not fit the operation (PyTorch's RuntimeError)."""


class ArgumentError(RuntimeError, ValueError):
    """An argument PyTorch rejects with RuntimeError (a repeated dim, no clamp bound, an
    integer raised to a negative power...); also a ValueError for zili's own callers."""


class DTypeError(RuntimeError, TypeError):
    """A dtype the operation does not support, two dtypes that do not promote, or a value a
    dtype cannot hold (PyTorch's RuntimeError / NotImplementedError); also a TypeError for
    zili's own callers."""


class IntegerDivisionError(RuntimeError, ZeroDivisionError):
    """An integer division or remainder by zero (PyTorch's RuntimeError "ZeroDivisionError";
    also Python's ZeroDivisionError)."""
