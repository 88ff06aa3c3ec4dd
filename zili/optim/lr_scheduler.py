"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: a base class, ``LambdaLR``, and
linear warm-up followed by cosine decay (``CosineWarmupLR`` / :func:`cosine_with_warmup`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from zili.optim.optimizer import Optimizer, scalar_value, set_hyperparameter


def cosine_with_warmup(step: int, base_lr: float, warmup_steps: int, total_steps: int,
                       min_lr: float = 0.0) -> float:
    """The learning rate at ``step`` (0-based): ``base_lr * (step + 1) / warmup_steps`` during
    warm-up (so the first step already learns), then a cosine from ``base_lr`` at step
    ``warmup_steps`` down to ``min_lr`` at ``total_steps``, and ``min_lr`` after.

    Raises:
        ValueError: if ``warmup_steps`` is negative or exceeds ``total_steps``.
    """
    if warmup_steps < 0 or total_steps < warmup_steps:
        raise ValueError(f"cosine_with_warmup: need 0 <= warmup_steps ({warmup_steps}) <= "
                         f"total_steps ({total_steps})")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


class LRScheduler:
    """Sets each group's ``lr`` from ``get_lr()`` at construction and on every ``step()``;
    ``last_epoch`` counts the steps taken (-1 before the first). A group whose ``lr`` is a
    0-d tensor keeps that tensor, filled in place."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            if last_epoch == -1:
                group.setdefault("initial_lr", scalar_value(group["lr"]))
            elif "initial_lr" not in group:
                raise KeyError("param 'initial_lr' is not specified in param_groups when "
                               "resuming a scheduler (last_epoch != -1)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of every group at ``last_epoch`` (subclasses)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the latest ``step()``."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one step and set the groups' learning rates (a tensor ``lr`` is filled in
        place, so a ``zili.jit``-compiled step reads the new value)."""
        self.last_epoch += 1
        lrs = [float(lr) for lr in self.get_lr()]
        for group, lr in zip(self.optimizer.param_groups, lrs):
            set_hyperparameter(group, "lr", lr)
        self._last_lr = lrs

    def state_dict(self) -> dict[str, Any]:
        """JSON-able scheduler state (everything but the optimizer and callables)."""
        return {k: v for k, v in self.__dict__.items()
                if k != "optimizer" and not callable(v)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(step), one lambda for all groups or one per group."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] |
                 list[Callable[[int], float]], last_epoch: int = -1):
        count = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else \
            [lr_lambda] * count
        if len(self.lr_lambdas) != count:
            raise ValueError(f"LambdaLR: expected {count} lr_lambdas, got "
                             f"{len(self.lr_lambdas)}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()
                if k not in ("optimizer", "lr_lambdas")}


class CosineWarmupLR(LRScheduler):
    """Linear warm-up over ``warmup_steps`` then cosine decay to ``min_lr`` at
    ``total_steps`` (see :func:`cosine_with_warmup`); ``min_lr`` is absolute, shared by
    all groups unless it is a list."""

    def __init__(self, optimizer: Optimizer, warmup_steps: int, total_steps: int,
                 min_lr: float | list[float] = 0.0, last_epoch: int = -1):
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        count = len(optimizer.param_groups)
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * count
        cosine_with_warmup(0, 1.0, warmup_steps, total_steps)  # validates the arguments
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [cosine_with_warmup(self.last_epoch, base, self.warmup_steps, self.total_steps,
                                   low) for base, low in zip(self.base_lrs, self.min_lrs)]
