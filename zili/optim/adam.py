"""Adam and AdamW with PyTorch's update formulas (bias correction, amsgrad)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from zili.optim.optimizer import Optimizer
from zili.tensor import no_grad, zeros_like


class Adam(Optimizer):
    """``torch.optim.Adam``: with t the step count,
    g = grad (+ wd * p for Adam; AdamW instead scales p by 1 - lr * wd first);
    m = m + (g - m)(1 - beta1); v = beta2 v + (1 - beta2) g^2;
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),
    with v replaced by its running maximum under ``amsgrad``.

    Raises:
        ValueError: for a negative lr/eps/weight decay or betas outside [0, 1).
    """

    decoupled = False  # AdamW sets True: weight decay scales p instead of joining the gradient

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr}")
        if eps < 0.0:
            raise ValueError(f"{type(self).__name__}: invalid epsilon {eps}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        if weight_decay < 0.0:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = self._closure(closure)
        with no_grad():
            for group in self.param_groups:
                lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = -p.grad if group["maximize"] else p.grad
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {"step": 0, "exp_avg": zeros_like(p),
                                                 "exp_avg_sq": zeros_like(p)}
                        if group["amsgrad"]:
                            state["max_exp_avg_sq"] = zeros_like(p)
                    state["step"] += 1
                    t = state["step"]
                    if wd != 0:
                        if self.decoupled:
                            p.mul_(1 - lr * wd)
                        else:
                            g = g + p * wd
                    m = state["exp_avg"]
                    m = m + (g - m) * (1 - beta1)
                    v = state["exp_avg_sq"] * beta2 + g * g * (1 - beta2)
                    state["exp_avg"], state["exp_avg_sq"] = m, v
                    if group["amsgrad"]:
                        v = state["max_exp_avg_sq"].maximum(v)
                        state["max_exp_avg_sq"] = v
                    step_size = lr / (1 - beta1 ** t)
                    denom = v.sqrt() * (1.0 / math.sqrt(1 - beta2 ** t)) + eps
                    p.sub_(m / denom * step_size)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``; weight_decay 0.01 default)."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
