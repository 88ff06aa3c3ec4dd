"""What a training run is told: optimisation and bookkeeping settings, and the schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any


@dataclass
class TrainSettings:
    """Optimisation and bookkeeping settings (stored in the checkpoint).

    ``steps`` optimizer steps of ``batch_size`` sequences each: the amount of data a run
    trains on is fixed by them, whatever the speed of the machine.
    """

    steps: int = 1000
    batch_size: int = 16
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 50
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_every: int = 0
    eval_batches: int = 8
    save_every: int = 0
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainSettings:
        """Settings from a checkpoint's dict (unknown keys are ignored: newer files)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def check(self) -> None:
        """Raise ValueError naming the setting when a size or rate is out of range."""
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps} and "
                             f"{self.batch_size} (--steps, --batch-size)")
        if self.lr < 0 or self.min_lr < 0 or self.warmup < 0:
            raise ValueError(f"lr, min_lr and warmup must be >= 0, got {self.lr}, "
                             f"{self.min_lr}, {self.warmup}")


def lr_at(step: int, s: TrainSettings) -> float:
    """The learning rate of step ``step`` (0-based): linear warm-up to ``lr``, then a cosine
    down to ``min_lr`` at the last step."""
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    span = max(1, s.steps - s.warmup)
    progress = min(1.0, (step - s.warmup) / span)
    return s.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (s.lr - s.min_lr)
