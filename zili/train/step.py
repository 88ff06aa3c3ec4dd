"""One optimisation step: forward, backward, gradient averaging across ranks, clipping and
the AdamW update, eager or as ``zili.jit``-compiled plans.

A compiled step gives bit for bit the result of an eager one on the ``cpu`` device (its
kernels are built without floating-point contraction, so a fused kernel rounds as the
separate ones do); the first call of a process runs eagerly, so a resumed run and an
uninterrupted one take the same values (tests/test_train_resume.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import zili
from zili.nn.parallel import DistributedDataParallel
from zili.optim.optimizer import set_hyperparameter
from zili.train.settings import TrainSettings

StepFn = Callable[[Any, Any, float], float]
"""``step(x, y, lr) -> loss``: one optimisation step on a batch; the loss before it."""


def make_optimizer(model: Any, s: TrainSettings) -> Any:
    """AdamW with weight decay on the matrices only (not on biases or LayerNorm gains)."""
    params = list(model.parameters())
    decay = [p for p in params if p.ndim >= 2]
    other = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": s.weight_decay},
              {"params": other, "weight_decay": 0.0}]
    return zili.optim.AdamW(groups, lr=s.lr, betas=(s.beta1, s.beta2))


def batch_tensors(x: np.ndarray, y: np.ndarray, device: Any) -> tuple[Any, Any]:
    """(x, y) NumPy id arrays as int64 tensors on ``device``."""
    return (zili.tensor(np.ascontiguousarray(x, dtype=np.int64), device=device),
            zili.tensor(np.ascontiguousarray(y, dtype=np.int64), device=device))


def _backward(model: Any, optimizer: Any, x: Any, y: Any) -> Any:
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    return loss.detach()


def _apply(model: Any, optimizer: Any, grad_clip: float) -> None:
    if grad_clip > 0:
        zili.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


def _update(model: Any, optimizer: Any, x: Any, y: Any, grad_clip: float) -> Any:
    """Forward, backward, clipping and the optimizer step; the loss before the update."""
    loss = _backward(model, optimizer, x, y)
    _apply(model, optimizer, grad_clip)
    return loss


def _set_lr(optimizer: Any, lr: float) -> None:
    for group in optimizer.param_groups:
        set_hyperparameter(group, "lr", lr)


def _lr_tensors(optimizer: Any, device: Any) -> None:
    # Under jit the learning rate must reach the compiled plan as data, not as a constant.
    for group in optimizer.param_groups:
        if not isinstance(group["lr"], zili.Tensor):
            group["lr"] = zili.tensor(float(group["lr"]), dtype=zili.float64, device=device)


def make_train_step(model: Any, optimizer: Any, grad_clip: float,
                    use_jit: bool = False) -> StepFn:
    """``step(x, y, lr) -> loss`` for ``model`` (a module whose call returns
    ``(logits, loss)``, or a :class:`~zili.nn.parallel.DistributedDataParallel` of one).

    With ``use_jit`` the work runs as ``zili.jit``-compiled plans: one for forward, backward,
    clipping and AdamW on one process; under data parallelism one for forward and backward
    and one for clipping and AdamW, with the gradient all-reduce (MPI, on the host buffers)
    between them. The groups' ``lr`` become 0-d float64 tensors filled before every call,
    so the schedule reaches the compiled step as data. Under data parallelism the returned
    loss is the mean over ranks.
    """
    if isinstance(model, DistributedDataParallel):
        return _data_parallel_step(model, optimizer, grad_clip, use_jit)
    if not use_jit:
        def eager(x: Any, y: Any, lr: float) -> float:
            _set_lr(optimizer, lr)
            return float(_update(model, optimizer, x, y, grad_clip).item())
        return eager
    _lr_tensors(optimizer, next(iter(model.parameters())).device)

    @zili.jit
    def compiled(x: Any, y: Any) -> Any:
        return _update(model, optimizer, x, y, grad_clip)

    def step(x: Any, y: Any, lr: float) -> float:
        _set_lr(optimizer, lr)
        return float(compiled(x, y).item())

    return step


def _data_parallel_step(ddp: DistributedDataParallel, optimizer: Any, grad_clip: float,
                        use_jit: bool) -> StepFn:
    params = [p for p in ddp.parameters() if p.requires_grad]
    if not use_jit:
        def eager(x: Any, y: Any, lr: float) -> float:
            _set_lr(optimizer, lr)
            loss = _backward(ddp, optimizer, x, y)  # buckets are sent as gradients appear
            ddp.finish_gradient_sync()
            _apply(ddp, optimizer, grad_clip)
            return ddp.mean_over_ranks(float(loss.item()))
        return eager
    _lr_tensors(optimizer, params[0].device)

    @zili.jit
    def backward(x: Any, y: Any) -> Any:
        with ddp.no_sync():  # a traced gradient is not a value yet: reduce after the replay
            loss = _backward(ddp, optimizer, x, y)
        return loss, [p.grad for p in params]

    @zili.jit
    def update(grads: list) -> None:
        for p, g in zip(params, grads):
            p.grad = g
        _apply(ddp, optimizer, grad_clip)
        for p in params:
            p.grad = None  # the next backward makes new ones

    every_grad = [False]  # the plan reports result k as parameter k-1's gradient only if
    # every parameter had one when it was traced (a None would shift the numbering)

    def step(x: Any, y: Any, lr: float) -> float:
        _set_lr(optimizer, lr)
        sync = ddp.jit_gradient_sync() if every_grad[0] else None
        loss, grads = backward.call(x, y, on_result=sync.result_ready if sync else None)
        every_grad[0] = all(g is not None for g in grads)
        if sync is not None and not every_grad[0]:  # a retrace changed the structure: the
            for _, work in sync.started.values():   # buckets started are not these; drain
                work.wait()
            sync = None
        grads = ddp.average_gradients(grads, sync)
        update(grads)
        for p, g in zip(params, grads):
            p.grad = g
        return ddp.mean_over_ranks(float(loss.item()))

    return step
