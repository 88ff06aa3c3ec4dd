"""``zili.sort(x, ...)``, ``zili.cumsum(x, ...)`` ...: PyTorch's top-level spelling of Tensor
methods. Each function calls the method of its first argument, so there is one
implementation (and one docstring of substance) per operation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NAMES = ("cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "argsort", "topk",
         "kthvalue", "median", "unique", "nonzero", "masked_select", "scatter",
         "scatter_reduce", "scatter_add", "index_add", "index_copy", "index_put",
         "take_along_dim", "isclose", "allclose", "prod", "round", "floor", "ceil", "trunc",
         "frac", "sign", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh",
         "tanh", "asinh", "acosh", "atanh", "erf", "erfc", "erfinv", "lgamma", "digamma",
         "copysign", "div", "gather", "index_select", "msort", "mode",
         "unique_consecutive",
         # the everyday math, reductions and shape functions (torch.exp(x), torch.sum(x, 1))
         "abs", "exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt",
         "square", "reciprocal", "sigmoid", "relu", "pow", "remainder", "fmod", "maximum",
         "minimum", "clamp", "clip", "lerp", "sum", "mean", "std", "var", "amax", "amin", "max",
         "min", "argmax", "argmin", "any", "all", "logsumexp", "softmax", "log_softmax",
         "isnan", "isinf", "isfinite", "eq", "ne", "lt", "le", "gt", "ge", "matmul", "dot",
         "transpose", "permute", "reshape", "flatten", "squeeze", "unsqueeze", "flip", "t",
         "chunk", "split", "narrow", "masked_fill", "numel", "logical_not", "bitwise_not",
         # zili/tensor/surface.py's
         "neg", "negative", "multiply", "divide", "subtract", "greater", "greater_equal",
         "less", "less_equal", "not_equal", "absolute", "positive", "roll", "tile", "ravel",
         "swapaxes", "swapdims", "movedim", "moveaxis", "diagonal", "diag", "trace", "outer",
         "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
         "bitwise_xor", "fmax", "fmin", "hypot", "logaddexp", "logaddexp2", "nan_to_num",
         "nansum", "nanmean", "xlogy", "deg2rad", "rad2deg", "addcmul", "addcdiv", "addmm",
         "mm", "bmm", "mv", "count_nonzero", "isposinf", "isneginf", "repeat_interleave",
         "tensor_split", "select", "take", "logit", "sinc", "clamp_min", "clamp_max", "kron",
         "cross", "diff", "aminmax", "heaviside", "float_power")


def _lift(name: str) -> Callable[..., Any]:
    def function(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        return getattr(input, name)(*args, **kwargs)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"``torch.{name}(input, ...)``: ``input.{name}(...)`` "
                        f"(see ``zili.Tensor.{name}``; raises what the method raises).")
    return function


FUNCTIONS = {name: _lift(name) for name in NAMES}
