"""The in-place twins of out-of-place methods: ``x.exp_()``, ``x.masked_fill_(m, v)``,
``x.scatter_(dim, index, src)``... As PyTorch's, ``name_(*args)`` computes ``name`` from the
tensor's current value and writes the result into the tensor's own memory: views of it see
the new values, its version counter moves (backward refuses what was saved before), and
autograd records the write as ``add_`` does (:func:`zili.tensor.inplace.write`). A result
the tensor's dtype cannot hold is refused as PyTorch refuses it (``int_tensor.exp_()``);
so is a result of another shape (an in-place op cannot broadcast its target).

One table, :data:`TWINS`, lists them; ``add_``, ``mul_``, ``copy_``, ``fill_``... keep
their own definitions (``zili/tensor/composite.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zili.errors import DTypeError, ShapeError

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

# Out-of-place methods whose PyTorch in-place twin (name + "_") keeps the shape.
TWINS = (
    "abs", "absolute", "acos", "acosh", "addcdiv", "addcmul", "addmm", "arccos", "arccosh",
    "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "asin", "asinh", "atan", "atan2",
    "atanh", "bitwise_and",
    "bitwise_left_shift", "bitwise_not", "bitwise_or", "bitwise_right_shift", "bitwise_xor",
    "ceil", "clamp_max", "clamp_min", "clip", "copysign", "cos", "cosh", "cumprod", "cumsum",
    "deg2rad", "digamma", "divide", "eq", "erf", "erfc", "erfinv", "exp", "exp2", "expm1",
    "fix", "float_power", "floor", "floor_divide", "fmod", "frac", "ge", "greater",
    "greater_equal", "gt", "heaviside", "hypot", "index_add", "index_copy", "index_put", "le",
    "lerp", "less", "less_equal", "lgamma", "log", "log10", "log1p", "log2", "logical_and",
    "logical_not", "logical_or", "logical_xor", "logit", "lt", "masked_fill", "multiply",
    "nan_to_num", "ne", "neg", "negative", "not_equal", "polygamma", "pow", "rad2deg",
    "reciprocal", "relu", "remainder", "round", "rsqrt", "scatter", "scatter_add",
    "scatter_reduce", "sgn", "sigmoid", "sign", "sin", "sinc", "sinh", "sqrt", "square",
    "subtract", "tan", "tanh", "tril", "triu", "true_divide", "trunc", "xlogy",
)


def _twin(name: str) -> Callable[..., Tensor]:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if name == "float_power" and self.dtype.name != "float64":
            raise DTypeError(f"float_power_: the base has dtype {self.dtype.name} but the "
                             "result requires float64 (as PyTorch); convert it first")
        tensors = [a for a in (*args, *kwargs.values()) if hasattr(a, "_storage")]
        result = getattr(self._snapshot(*tensors), name)(*args, **kwargs)
        if result.dtype.category > self.dtype.category:
            raise DTypeError(f"{name}_: result type {result.dtype.name} can't be cast to the "
                             f"desired output type {self.dtype.name}; use {name}() or "
                             f"convert the tensor first")
        if result.shape != self.shape:
            raise ShapeError(f"{name}_: the result has shape {result.shape} but the tensor "
                             f"written in place has shape {self.shape}; an in-place op "
                             "cannot broadcast its target")
        return self._inplace(result, f"{name}_")
    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = (f"In place :meth:`{name}`: the result written into this tensor "
                      f"(PyTorch's ``{name}_``).\n\n        Raises:\n            DTypeError: "
                      "a result dtype this tensor cannot hold. ShapeError: a result of "
                      "another shape.")
    return method


def _detach_(self: Tensor) -> Tensor:
    """Cut this tensor out of the graph in place (it becomes a leaf without grad)."""
    self._ctx, self.requires_grad = None, False
    return self


InplaceOps = type("InplaceOps", (), {**{f"{n}_": _twin(n) for n in TWINS},
                                     "detach_": _detach_,
                                     "__doc__": "Mixed into Tensor.", "__slots__": ()})
