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
         "unique_consecutive")


def _lift(name: str) -> Callable[..., Any]:
    def function(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        return getattr(input, name)(*args, **kwargs)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"``torch.{name}(input, ...)``: ``input.{name}(...)`` "
                        f"(see ``zili.Tensor.{name}``; raises what the method raises).")
    return function


FUNCTIONS = {name: _lift(name) for name in NAMES}
