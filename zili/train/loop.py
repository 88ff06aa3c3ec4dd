"""The training loop: steps until the run's fixed number of steps, evaluation, periodic
and final checkpoints, Ctrl-C handled between steps, an optional wall-clock cap.

The amount of data a run trains on is fixed (``settings.steps`` batches), so the result does
not depend on how fast the machine is; ``max_seconds`` only stops a run early, with a line
saying so (``run.metrics["stopped_early"]``). Ctrl-C never interrupts a step half-way: the
step finishes, the checkpoint is written with the matching data position, then
``KeyboardInterrupt`` propagates (a second Ctrl-C stops at once).
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

import zili
import zili.distributed as dist
from zili.train.checkpoint import Run
from zili.train.settings import lr_at
from zili.train.step import batch_tensors, make_train_step


@zili.no_grad()
def evaluate(model: Any, batches: Iterable[tuple[np.ndarray, np.ndarray]], device: Any,
             rank: int = 0, world_size: int = 1) -> tuple[float, int]:
    """Mean cross-entropy (nats per token) over ``batches``, and the number of tokens.

    With several ranks each evaluates every ``world_size``-th batch and the sums are
    all-reduced, so every rank returns the same value.

    Raises:
        ValueError: no batch at all (the split is shorter than the context).
    """
    model = getattr(model, "module", model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for b, (x, y) in enumerate(batches):
            if b % world_size != rank:
                continue
            xt, yt = batch_tensors(x, y, device)
            _, loss = model(xt, yt)
            total += float(loss.item()) * y.size
            count += y.size
    finally:
        model.train(was_training)
    if world_size > 1:
        box = np.array([total, count], dtype=np.float64)
        dist.group().all_reduce(box, dist.ReduceOp.SUM).wait()
        total, count = float(box[0]), int(box[1])
    if count == 0:
        raise ValueError("evaluate: the validation split gave no windows; it is shorter than "
                         "the context — use a smaller --context")
    return total / count, count


class _DeferredInterrupt:
    """SIGINT sets a flag that the loop reads between steps; a second one raises."""

    def __init__(self) -> None:
        self.requested = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


@contextlib.contextmanager
def _interrupts_between_steps() -> Iterator[_DeferredInterrupt]:
    state = _DeferredInterrupt()
    if threading.current_thread() is not threading.main_thread():
        yield state  # signals reach the main thread only: nothing to defer
        return
    previous = signal.signal(signal.SIGINT, state.handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


def fit(run: Run, *, val_batches: Callable[[], Iterable[Any]] | None = None,
        progress: bool = True, max_seconds: float | None = None,
        log: Callable[[str], None] = print) -> list[float]:
    """Train ``run`` from ``run.step`` to ``run.settings.steps``; returns the step losses.

    Evaluates every ``eval_every`` steps and saves ``run.out/ckpt.safetensors`` every
    ``save_every`` steps (rank 0 writes). ``max_seconds`` stops early once training took
    that long (a line says so; ``run.metrics["stopped_early"]`` is True). On Ctrl-C the
    current step completes, the checkpoint is saved and KeyboardInterrupt propagates.

    Raises:
        FloatingPointError: the loss became NaN or infinite.
        KeyboardInterrupt: after Ctrl-C (the checkpoint is saved first).
    """
    from tqdm import tqdm

    s = run.settings
    main_rank = run.rank == 0
    tokens_per_step = s.batch_size * run.world_size * run.gpt.config.block_size
    losses: list[float] = []
    bar = tqdm(total=s.steps, initial=run.step, disable=not (progress and main_rank),
               unit="step", dynamic_ncols=True, file=sys.stderr)
    started = time.perf_counter()
    timed_from, timed_steps = started, 0
    done, warm_steps = 0, 2 if run.jit else 1
    stopped_early = False
    stepper = make_train_step(run.model, run.optimizer, s.grad_clip, run.jit)
    with _interrupts_between_steps() as interrupt:
        while run.step < s.steps:
            x, y = run.loader.next_batch()
            xt, yt = batch_tensors(x, y, run.device)
            loss = stepper(xt, yt, lr_at(run.step, s))
            run.step += 1
            losses.append(loss)
            if not math.isfinite(loss):
                bar.close()
                raise FloatingPointError(f"training loss became {loss} at step {run.step}; "
                                         "lower --lr or raise --warmup")
            # The first step pays one-off costs (under jit the second traces and compiles);
            # time the ones after them.
            done += 1
            if done == warm_steps:
                timed_from = time.perf_counter()
            elif done > warm_steps:
                timed_steps += 1
            bar.update(1)
            if timed_steps:
                rate = tokens_per_step * timed_steps / max(time.perf_counter() - timed_from,
                                                           1e-9)
                bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{rate:,.0f}")
            else:
                bar.set_postfix(loss=f"{loss:.3f}")
            over = max_seconds is not None and time.perf_counter() - started > max_seconds
            stop, over = _agree(interrupt.requested, over, run.world_size)
            if stop:
                bar.close()
                path = run.save()
                if main_rank:
                    where = f"checkpoint saved to {path}; continue with --resume {path}" \
                        if path else "no checkpoint (no output folder)"
                    log(f"\ninterrupted after step {run.step}: {where}")
                raise KeyboardInterrupt
            if s.eval_every and val_batches is not None and run.step % s.eval_every == 0 \
                    and run.step < s.steps:
                val, _ = evaluate(run.model, val_batches(), run.device, run.rank,
                                  run.world_size)
                if main_rank:
                    bar.write(f"step {run.step}: train loss {loss:.4f}, held-out loss "
                              f"{val:.4f}")
            if s.save_every and run.step % s.save_every == 0:
                run.save()
            if over and run.step < s.steps:
                stopped_early = True
                if main_rank:
                    bar.write(f"wall-clock cap of {max_seconds:.0f}s reached: stopping after "
                              f"step {run.step} of {s.steps}")
                break
    bar.close()
    elapsed = time.perf_counter() - started
    run.metrics = dict(run.metrics or {}, train_seconds=elapsed,
                       tokens_per_second=tokens_per_step * timed_steps /
                       max(time.perf_counter() - timed_from, 1e-9),
                       last_loss=losses[-1] if losses else None, stopped_early=stopped_early,
                       steps_done=run.step, steps_planned=s.steps)
    return losses


def _agree(interrupted: bool, over: bool, world_size: int) -> tuple[bool, bool]:
    """(stop now, past the cap) as every rank sees it: any rank's Ctrl-C or cap counts."""
    if world_size == 1:
        return interrupted, over
    box = np.array([float(interrupted), float(over)])
    dist.group().all_reduce(box, dist.ReduceOp.MAX).wait()
    return bool(box[0]), bool(box[1])
