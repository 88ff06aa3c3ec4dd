"""Adam and AdamW with PyTorch's update formulas (bias correction, amsgrad).

The step count is a float64 0-d tensor updated in place, and the bias corrections are
computed from it with tensor operations, so a ``zili.jit``-compiled training step sees the
count advance on every replay (a Python number would be frozen into the trace). The
learning rate may be a 0-d tensor too (``lr=zili.tensor(1e-3)``): schedulers then fill it
in place and the compiled step reads it as data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from zili import float64
from zili.optim.optimizer import Optimizer, scalar_value
from zili.tensor import Tensor, no_grad, tensor, zeros, zeros_like


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
        if scalar_value(lr) < 0.0:
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
                        state = self.state[p] = {
                            "step": zeros((), dtype=float64, device=p.device),
                            "exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}
                        if group["amsgrad"]:
                            state["max_exp_avg_sq"] = zeros_like(p)
                    if not isinstance(state["step"], Tensor):  # a count saved as a number
                        state["step"] = tensor(float(state["step"]), dtype=float64,
                                               device=p.device)
                    t = state["step"].add_(1)
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
                    # 1 - beta^t from the count tensor (float64: exact as Python's).
                    step_size = _bias_correction(beta1, t).reciprocal() * lr
                    denom = v.sqrt() * _bias_correction(beta2, t).rsqrt() + eps
                    p.sub_(m / denom * step_size)
        return loss


def _bias_correction(beta: float, t: Tensor) -> Any:
    """1 - beta**t for the step-count tensor ``t`` (exp2 of t * log2(beta): two primitives,
    traced as data under ``zili.jit``); 1 when beta is 0."""
    if beta == 0.0:
        return t * 0 + 1
    return 1 - (t * math.log2(beta)).exp2()


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``; weight_decay 0.01 default)."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
