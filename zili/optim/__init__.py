"""``zili.optim``: optimizers and learning-rate schedules, with PyTorch's names."""

from zili.optim import lr_scheduler
from zili.optim.adam import Adam, AdamW
from zili.optim.optimizer import Optimizer
from zili.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
