"""PyTorch's NumPy-style keyword aliases: ``axis=`` for ``dim=`` and ``keepdims=`` for
``keepdim=``, accepted wherever PyTorch accepts them (reductions, softmax)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def dim_aliases(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``method`` so that ``axis=`` reads as ``dim=`` and ``keepdims=`` as
    ``keepdim=``.

    Raises:
        TypeError: when both spellings of one argument are given.
    """
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not kwargs:  # the common case: nothing to rename (checked once per call)
            return method(self, *args)
        for alias, name in (("axis", "dim"), ("keepdims", "keepdim")):
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError(f"{method.__name__}: got both {name}= and its alias "
                                    f"{alias}=")
                kwargs[name] = kwargs.pop(alias)
        return method(self, *args, **kwargs)
    return wrapper
