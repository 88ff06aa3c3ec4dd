"""``GradScaler``: loss scaling for float16 training, as ``torch.amp.GradScaler``.

float16 has 5 exponent bits: small gradients underflow to zero. The scaler multiplies the
loss by a large factor before ``backward`` (so the gradients are scaled too), divides the
gradients by it before the optimizer steps, skips the step when a gradient overflowed to
inf or NaN, and adapts the factor: halve it after an overflow, double it after
``growth_interval`` steps without one.

The usual loop, exactly PyTorch's::

    scaler = zili.amp.GradScaler()
    with zili.autocast(device, dtype=zili.float16):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)      # unscales (unless unscale_ was called), skips on inf/NaN
    scaler.update()

The scale is a host number (its products are rounded to float32, as PyTorch's float32
scale tensor). ``step`` reads one flag from the device to decide whether to step, as
PyTorch's does, so call ``scale`` / ``step`` / ``update`` outside a ``zili.jit`` function.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zili import dtype as dtypes
from zili.tensor import Tensor, no_grad, tensor

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


def _f32(x: float) -> float:
    return float(np.float32(x))


class GradScaler:
    """Dynamic loss scaling (see the module docstring).

    Raises:
        ValueError: for a non-positive ``init_scale``, ``growth_factor`` <= 1,
            ``backoff_factor`` outside (0, 1) or ``growth_interval`` < 1.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True):
        if not init_scale > 0:
            raise ValueError(f"GradScaler: init_scale must be positive, got {init_scale}")
        if not growth_factor > 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got "
                             f"{backoff_factor}")
        if int(growth_interval) < 1:
            raise ValueError(f"GradScaler: growth_interval must be >= 1, got {growth_interval}")
        # The scale lives on the host, so one scaler serves tensors on any device; `device`
        # is kept for PyTorch's signature and repr.
        self.device = device
        self._enabled = bool(enabled)
        self._scale = _f32(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict[str, Any]] = {}

    # --- scaling ------------------------------------------------------------------------

    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a tensor, or nested lists/tuples of them) times the current scale.

        The factor is a 0-d float32 tensor, so a float16 loss of shape () becomes float32 and
        larger tensors keep their dtype, as in PyTorch.
        """
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            factor = tensor(self._scale, dtype=dtypes.float32, device=outputs.device)
            return outputs * factor
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale: outputs must be a Tensor or a list/tuple of them, "
                        f"got {type(outputs).__name__}")

    def _state(self, optimizer: Any) -> dict[str, Any]:
        return self._per_optimizer.setdefault(id(optimizer),
                                              {"stage": _READY, "found_inf": None})

    def unscale_(self, optimizer: Any) -> None:
        """Divide every gradient ``optimizer`` holds by the scale, in place of ``.grad``, and
        note whether any of them is inf or NaN (for ``step`` and ``update``).

        Raises:
            RuntimeError: if called twice before ``update()``, or after ``step()``.
            ValueError: for float16 gradients (keep parameters in float32, as in PyTorch).
        """
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("GradScaler.unscale_: already called on this optimizer since "
                               "the last update()")
        if state["stage"] == _STEPPED:
            raise RuntimeError("GradScaler.unscale_: called after step(); call it before "
                               "step(), once per update()")
        inverse = _f32(1.0 / self._scale)
        found = None
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    if grad.dtype is dtypes.float16:
                        raise ValueError("GradScaler.unscale_: attempting to unscale float16 "
                                         "gradients; keep the parameters in float32 and let "
                                         "zili.autocast cast to float16")
                    # x - x is NaN exactly where x is inf or NaN, and 0 elsewhere.
                    bad = ((grad - grad) != 0).any()
                    found = bad if found is None else found | bad
                    p.grad = grad * tensor(inverse, dtype=dtypes.float32, device=grad.device)
        state["found_inf"] = found
        state["stage"] = _UNSCALED

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """Unscale the gradients (unless ``unscale_`` did) and run ``optimizer.step`` unless
        one of them is inf or NaN; returns what ``optimizer.step`` returned (None if
        skipped).

        Raises:
            RuntimeError: if called twice before ``update()``, with a ``closure``, or when
                the optimizer holds no gradient at all.
        """
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("GradScaler.step: a closure is not supported when the scaler "
                               "is enabled")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("GradScaler.step: already called since the last update()")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        if state["found_inf"] is None:
            raise RuntimeError("GradScaler.step: no gradients were found for this optimizer; "
                               "call backward() on the scaled loss first")
        result = None
        if not bool(state["found_inf"].item()):
            result = optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Adapt the scale after the step(s): times ``backoff_factor`` if any optimizer saw
        inf/NaN, times ``growth_factor`` after ``growth_interval`` clean steps; or set it to
        ``new_scale``.

        Raises:
            RuntimeError: if no optimizer was unscaled or stepped since the last update.
            ValueError: for a ``new_scale`` that is not a positive finite number.
        """
        if not self._enabled:
            return
        if new_scale is not None:
            value = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"GradScaler.update: new_scale must be positive and finite, "
                                 f"got {value}")
            self._scale = _f32(value)
        else:
            founds = [s["found_inf"] for s in self._per_optimizer.values()
                      if s["found_inf"] is not None]
            if not founds:
                raise RuntimeError("GradScaler.update: no inf checks were recorded; call "
                                   "step() or unscale_() first")
            if any(bool(f.item()) for f in founds):
                self._scale = _f32(self._scale * _f32(self._backoff_factor))
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = _f32(self._scale * _f32(self._growth_factor))
                    if math.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer = {}

    # --- accessors and state --------------------------------------------------------------

    def is_enabled(self) -> bool:
        """True unless built with ``enabled=False``."""
        return self._enabled

    def get_scale(self) -> float:
        """The current scale (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        """The factor the scale grows by."""
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        """The factor the scale shrinks by after an overflow."""
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        """How many clean steps come before the scale grows."""
        return self._growth_interval

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state, with PyTorch's keys (empty when disabled)."""
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (PyTorch's keys).

        Raises:
            RuntimeError: for an empty state (saved from a disabled scaler).
            KeyError: naming a missing key.
        """
        if not self._enabled:
            return
        if not state_dict:
            raise RuntimeError("GradScaler.load_state_dict: the state is empty, possibly "
                               "saved from a disabled GradScaler")
        for key in ("scale", "growth_factor", "backoff_factor", "growth_interval",
                    "_growth_tracker"):
            if key not in state_dict:
                raise KeyError(f"GradScaler.load_state_dict: missing key {key!r}")
        scale = state_dict["scale"]
        self._scale = _f32(scale.item() if isinstance(scale, Tensor) else scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        tracker = state_dict["_growth_tracker"]
        self._growth_tracker = int(tracker.item() if isinstance(tracker, Tensor) else tracker)

    def __repr__(self) -> str:
        return (f"GradScaler(device={self.device!r}, scale={self.get_scale()}, "
                f"enabled={self._enabled})")
