"""Mixed precision: ``zili.autocast``, the state it sets and the per-op cast policy.

Inside ``with zili.autocast(device_type, dtype=...)`` the operations that gain from lower
precision (matrix products: ``matmul``, ``linear``, ``scaled_dot_product_attention``) cast
their floating-point inputs on devices of that type to the autocast dtype, and the
operations that lose accuracy in it (reductions, softmax, normalisation, losses) cast theirs
to float32, so their results and everything accumulated from them stay float32. Float64
tensors and integer tensors are never cast, as in PyTorch.

The policy is one list for every device: PyTorch's CUDA lists (its CPU list leaves softmax
and layer norm in bfloat16; zili keeps them in float32 everywhere, which is what training
code written for CUDA expects). Only ``sum`` differs in what follows from it: ``mean`` is
built on ``sum`` here, so a mean under autocast is float32 too.

The state is per thread, as PyTorch's. A region is entered, nested and disabled exactly as
``torch.autocast``: an inner region replaces the outer one's settings for its device type
until it exits; ``enabled=False`` turns casting off inside. Casts are ordinary differentiable
CAST primitives, so gradients flow back to float32 parameters in float32. ``zili.jit``
records the casts of the call it traces; call a jitted function under the same autocast
settings every time (a change of settings is not a new trace).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from zili import dtype as dtypes
from zili.dtype import DType

# PyTorch's defaults (torch.get_autocast_dtype): float16 on CUDA, bfloat16 elsewhere.
_DEFAULT_DTYPE = {"cuda": dtypes.float16}
_LOWER = (dtypes.float16, dtypes.bfloat16)


class _State(threading.local):
    def __init__(self) -> None:
        self.regions: dict[str, DType | None] = {}  # device type -> dtype (None: disabled)


_STATE = _State()


def _device_type(device_type: Any) -> str:
    name = getattr(device_type, "name", device_type)
    if not isinstance(name, str):
        raise TypeError(f"autocast: device_type must be a string such as 'cpu' or 'cuda', got "
                        f"{type(device_type).__name__}")
    return name.split(":")[0]


def is_autocast_enabled(device_type: Any = "cpu") -> bool:
    """True inside an enabled ``zili.autocast`` region for ``device_type``."""
    return _STATE.regions.get(_device_type(device_type)) is not None


def get_autocast_dtype(device_type: Any = "cpu") -> DType:
    """The dtype autocast uses on ``device_type``: the active region's, else the default
    (float16 for 'cuda', bfloat16 for every other device type, as PyTorch)."""
    name = _device_type(device_type)
    active = _STATE.regions.get(name)
    return active if active is not None else _DEFAULT_DTYPE.get(name, dtypes.bfloat16)


class autocast:  # noqa: N801 (PyTorch's name)
    """Context manager and decorator: run matrix products in ``dtype`` on ``device_type``.

    ``zili.autocast("cpu")`` (bfloat16), ``zili.autocast("cuda", dtype=zili.bfloat16)``,
    ``zili.autocast("cpu", enabled=False)`` to turn it off in a nested region. See the
    module docstring for which operations cast to what.

    Raises:
        TypeError: if ``device_type`` is not a string.
        ValueError: if ``dtype`` is not float16 or bfloat16.
    """

    def __init__(self, device_type: Any, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None):
        self.device_type = _device_type(device_type)
        self.fast_dtype = (dtypes.to_dtype(dtype) if dtype is not None
                           else _DEFAULT_DTYPE.get(self.device_type, dtypes.bfloat16))
        if self.fast_dtype not in _LOWER:
            raise ValueError(f"autocast: dtype must be zili.float16 or zili.bfloat16, got "
                             f"{self.fast_dtype.name}; autocast runs products in a lower "
                             "precision than float32")
        self.enabled = bool(enabled)
        # Accepted for PyTorch compatibility; zili keeps no cast cache (each cast is one
        # fused CAST kernel, and a jitted step casts weights once per replay anyway).
        self.cache_enabled = cache_enabled
        self._saved: list[tuple[bool, DType | None]] = []

    def __enter__(self) -> autocast:
        regions = _STATE.regions
        self._saved.append((self.device_type in regions, regions.get(self.device_type)))
        regions[self.device_type] = self.fast_dtype if self.enabled else None
        return self

    def __exit__(self, *exc: Any) -> None:
        present, previous = self._saved.pop()
        if present:
            _STATE.regions[self.device_type] = previous
        else:
            _STATE.regions.pop(self.device_type, None)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Use as a decorator: ``fn`` runs inside this autocast region."""
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device_type, self.fast_dtype, self.enabled, self.cache_enabled):
                return fn(*args, **kwargs)
        return wrapped


class suspended:  # noqa: N801 (used like no_grad)
    """Context manager: no autocast region is active inside (the backward pass runs in it,
    so each gradient keeps the dtype its forward operation chose, as in PyTorch)."""

    def __enter__(self) -> None:
        self._saved = _STATE.regions
        _STATE.regions = {}

    def __exit__(self, *exc: Any) -> None:
        _STATE.regions = self._saved


def _target(tensor: Any, lower: bool) -> DType | None:
    """The dtype ``tensor`` should be cast to (None: leave it), for the active regions."""
    dtype = getattr(tensor, "dtype", None)
    if dtype is None or not dtype.is_floating_point or dtype is dtypes.float64:
        return None
    fast = _STATE.regions.get(tensor.device.name)
    if fast is None:
        return None
    target = fast if lower else dtypes.float32
    return target if dtype is not target else None


def _cast(tensors: tuple[Any, ...], lower: bool) -> tuple[Any, ...]:
    if not _STATE.regions:  # the common case: no region anywhere, nothing to look at
        return tensors
    out = []
    for t in tensors:
        target = _target(t, lower)
        out.append(t if target is None else t.to(target))
    return tuple(out)


def lower_precision(*tensors: Any) -> tuple[Any, ...]:
    """The hook of matrix products: each floating tensor (not float64) on a device inside
    an enabled region, cast to that region's dtype; other arguments (None, ints) as given."""
    return _cast(tensors, lower=True)


def full_precision(*tensors: Any) -> tuple[Any, ...]:
    """The hook of reductions, softmax, norms and losses: float16/bfloat16 tensors on a
    device inside an enabled region, cast to float32; everything else as given."""
    return _cast(tensors, lower=False)


__all__ = ["autocast", "full_precision", "get_autocast_dtype", "is_autocast_enabled",
           "lower_precision", "suspended"]
