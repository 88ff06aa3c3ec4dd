"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from zili.optim.optimizer import Optimizer, scalar_value
from zili.tensor import Tensor, no_grad


class SGD(Optimizer):
    """``torch.optim.SGD``'s update:
    g = grad + wd * p; buf = momentum * buf + (1 - dampening) * g (buf = g at first);
    g = g + momentum * buf if nesterov else buf; p = p - lr * g.

    Raises:
        ValueError: for a negative lr/momentum/weight decay, or Nesterov without momentum or
            with dampening.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False):
        if scalar_value(lr) < 0.0:
            raise ValueError(f"SGD: invalid learning rate {lr}")
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: invalid weight_decay {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._closure(closure)
        with no_grad():
            for group in self.param_groups:
                lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
                dampening, nesterov = group["dampening"], group["nesterov"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g: Tensor = -p.grad if group["maximize"] else p.grad
                    if wd != 0:
                        g = g + p * wd
                    if momentum != 0:
                        state = self.state.setdefault(p, {})
                        buf = state.get("momentum_buffer")
                        buf = g if buf is None else buf * momentum + (
                            g * (1 - dampening) if dampening else g)
                        state["momentum_buffer"] = buf
                        g = g + buf * momentum if nesterov else buf
                    p.sub_(g * lr)
        return loss
