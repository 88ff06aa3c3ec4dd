"""The GPT training loop shared by ``zili demo`` and ``zili train``.

One step: a batch from the loader, forward, backward, gradient clipping, an AdamW step
with a cosine learning rate after a linear warm-up. A tqdm bar shows the loss and the
tokens per second. Checkpoints (``zili.save``: safetensors, written atomically) hold the
model, the optimizer, the step, the data position, the random generator, the config and
the tokenizer, so ``--resume`` continues exactly where the run stopped, and Ctrl-C saves
one before it exits.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

import zili
from zili.models.gpt import GPT, GPTConfig

CHECKPOINT_FORMAT = "zili-gpt-checkpoint"


@dataclass
class TrainSettings:
    """Optimisation and bookkeeping settings (stored in the checkpoint)."""

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


def lr_at(step: int, s: TrainSettings) -> float:
    """The learning rate of step ``step`` (0-based): linear warm-up to ``lr``, then a cosine
    down to ``min_lr`` at the last step."""
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    span = max(1, s.steps - s.warmup)
    progress = min(1.0, (step - s.warmup) / span)
    return s.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (s.lr - s.min_lr)


def make_optimizer(model: GPT, s: TrainSettings) -> Any:
    """AdamW with weight decay on the matrices only (not on biases or LayerNorm gains)."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    other = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": s.weight_decay},
              {"params": other, "weight_decay": 0.0}]
    return zili.optim.AdamW(groups, lr=s.lr, betas=(s.beta1, s.beta2))


def batch_tensors(x: np.ndarray, y: np.ndarray, device: Any) -> tuple[Any, Any]:
    """(x, y) NumPy id arrays as int64 tensors on ``device``."""
    return (zili.tensor(np.ascontiguousarray(x, dtype=np.int64), device=device),
            zili.tensor(np.ascontiguousarray(y, dtype=np.int64), device=device))


def _update(model: GPT, optimizer: Any, x: Any, y: Any, grad_clip: float) -> Any:
    """Forward, backward, clipping and the optimizer step; the loss before the update."""
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        zili.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


def train_step(model: GPT, optimizer: Any, x: Any, y: Any, lr: float,
               grad_clip: float) -> float:
    """One optimisation step on the batch (x, y); returns the loss before the update."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    return float(_update(model, optimizer, x, y, grad_clip).item())


def make_train_step(model: GPT, optimizer: Any, grad_clip: float,
                    use_jit: bool = False) -> Callable[[Any, Any, float], float]:
    """``step(x, y, lr) -> loss``: :func:`train_step` as one callable; with ``use_jit`` the
    forward, backward, clipping and AdamW update run as a ``zili.jit``-compiled plan. The
    groups' ``lr`` then become 0-d float64 tensors filled before every call, so the
    schedule reaches the compiled step as data (the step count already is a tensor)."""
    if not use_jit:
        return lambda x, y, lr: train_step(model, optimizer, x, y, lr, grad_clip)
    from zili.optim.optimizer import set_hyperparameter
    device = next(iter(model.parameters())).device
    for group in optimizer.param_groups:
        if not isinstance(group["lr"], zili.Tensor):
            group["lr"] = zili.tensor(float(group["lr"]), dtype=zili.float64, device=device)

    @zili.jit
    def compiled(x: Any, y: Any) -> Any:
        return _update(model, optimizer, x, y, grad_clip)

    def step(x: Any, y: Any, lr: float) -> float:
        for group in optimizer.param_groups:
            set_hyperparameter(group, "lr", lr)
        return float(compiled(x, y).item())

    return step


@zili.no_grad()
def evaluate(model: GPT, batches: Iterable[tuple[np.ndarray, np.ndarray]],
             device: Any) -> tuple[float, int]:
    """Mean cross-entropy (nats per token) over ``batches``, and the number of tokens."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for x, y in batches:
            xt, yt = batch_tensors(x, y, device)
            _, loss = model(xt, yt)
            total += float(loss.item()) * y.size
            count += y.size
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the validation split gave no windows; it is shorter than "
                         "the context — use a smaller --context")
    return total / count, count


@dataclass
class Run:
    """Everything a training run needs and a checkpoint restores."""

    model: GPT
    optimizer: Any
    loader: Any
    settings: TrainSettings
    tokenizer: dict[str, Any]
    data: dict[str, Any]
    device: Any
    step: int = 0
    metrics: dict[str, Any] | None = None
    jit: bool = False  # run the training step as a zili.jit-compiled plan

    def checkpoint(self) -> dict[str, Any]:
        """The run's state as a nested dict for ``zili.save``."""
        return {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "loader": self.loader.state_dict(),
            "rng": zili.get_rng_state(),
            "config": self.model.config.to_dict(),
            "settings": asdict(self.settings),
            "tokenizer": self.tokenizer,
            "data": self.data,
            "metrics": self.metrics or {},
        }

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint atomically (zili.save) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        zili.save(self.checkpoint(), str(path))
        return path

    def restore(self, state: dict[str, Any]) -> None:
        """Take model, optimizer, step, data position and RNG from a loaded checkpoint."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.loader.load_state_dict(state["loader"])
        zili.set_rng_state(state["rng"])
        self.step = int(state["step"])
        self.metrics = dict(state.get("metrics") or {})


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint written by :meth:`Run.save`.

    Raises:
        FileNotFoundError: no file at ``path``.
        IsADirectoryError: ``path`` is a folder.
        ValueError: the file is not a zili GPT checkpoint (``zili.io.CheckpointError`` when
            it is damaged or malformed).
    """
    if Path(path).is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory, not a file; pass the "
                                f"checkpoint inside it ({Path(path) / 'ckpt.safetensors'})")
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; train one with "
                                "`zili train --out DIR` (it writes DIR/ckpt.safetensors)")
    state = zili.load(str(path))
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a zili GPT checkpoint (no format="
                         f"{CHECKPOINT_FORMAT!r} entry)")
    return state


def model_from_checkpoint(state: dict[str, Any], device: Any = None) -> GPT:
    """A GPT with the checkpoint's config and weights, on ``device``, in eval mode."""
    model = GPT(GPTConfig.from_dict(state["config"]))
    model.load_state_dict(state["model"])
    if device is not None:
        model.to(device)
    return model.eval()


def _fit_budget(run: Run, bar: Any, budget: float, started: float, timed_from: float,
                timed_steps: int, requested: int, log: Callable[[str], None]) -> None:
    """Lower ``settings.steps`` so that training ends within ``budget`` seconds.

    The step time is measured after 3, 10, 30, 100 and 300 steps (the machine may be busy, and the
    first steps are slower), never above the ``requested`` steps; past 110% of the budget
    training stops at once.
    """
    s = run.settings
    now = time.perf_counter()
    if now - started > 1.1 * budget and run.step < s.steps:
        log(f"\ntime budget {budget:.0f}s exceeded: stopping at step {run.step}")
        s.steps = run.step
        bar.total = run.step
        return
    if timed_steps not in (3, 10, 30, 100, 300):
        return
    per_step = (now - timed_from) / timed_steps
    fitted = min(requested, run.step + max(1, int((budget - (now - started)) / per_step)))
    if fitted != s.steps:
        if timed_steps == 3:
            s.warmup = min(s.warmup, max(1, fitted // 10))
        s.steps = fitted
        bar.total = fitted
        bar.refresh()


def fit(run: Run, *, out: Path | None, val_batches: Callable[[], Iterable[Any]] | None,
        progress: bool = True, time_budget: float | None = None,
        log: Callable[[str], None] = print) -> list[float]:
    """Train ``run`` from ``run.step`` to ``run.settings.steps``; returns the step losses.

    ``time_budget`` (seconds) fits ``settings.steps`` to the measured step time so that
    training ends in time (the schedule follows the new step count).
    Evaluates every ``eval_every`` steps and saves ``out/ckpt.safetensors`` every
    ``save_every`` steps and at the end. On Ctrl-C the checkpoint is saved, then
    KeyboardInterrupt propagates.
    """
    from tqdm import tqdm

    s = run.settings
    tokens_per_step = s.batch_size * run.model.config.block_size
    losses: list[float] = []
    ckpt = out / "ckpt.safetensors" if out is not None else None
    bar = tqdm(total=s.steps, initial=run.step, disable=not progress, unit="step",
               dynamic_ncols=True, file=sys.stderr)
    started = time.perf_counter()
    timed_from, timed_steps = None, 0
    done, warm_steps = 0, 2 if run.jit else 1
    requested = s.steps
    stepper = make_train_step(run.model, run.optimizer, s.grad_clip, run.jit)
    try:
        while run.step < s.steps:
            x, y = run.loader.next_batch()
            xt, yt = batch_tensors(x, y, run.device)
            loss = stepper(xt, yt, lr_at(run.step, s))
            run.step += 1
            losses.append(loss)
            if not math.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss} at step {run.step}; "
                                         "lower --lr or raise --warmup")
            # The first step pays one-off costs (under jit the second traces and compiles);
            # time the ones after them.
            done += 1
            if done == warm_steps:
                timed_from = time.perf_counter()
            elif done > warm_steps:
                timed_steps += 1
            rate = tokens_per_step * timed_steps / max(time.perf_counter() - timed_from, 1e-9) \
                if timed_steps else 0.0
            if time_budget is not None:
                _fit_budget(run, bar, time_budget, started, timed_from, timed_steps,
                            requested, log)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{rate:,.0f}" if timed_steps else "-")
            if s.eval_every and val_batches is not None and run.step % s.eval_every == 0 \
                    and run.step < s.steps:
                val, _ = evaluate(run.model, val_batches(), run.device)
                bar.write(f"step {run.step}: train loss {loss:.4f}, held-out loss {val:.4f}")
            if ckpt is not None and s.save_every and run.step % s.save_every == 0:
                run.save(ckpt)
    except KeyboardInterrupt:
        bar.close()
        if ckpt is not None:
            run.save(ckpt)
            log(f"\ninterrupted at step {run.step}: checkpoint saved to {ckpt}; continue "
                f"with --resume {ckpt}")
        raise
    bar.close()
    elapsed = time.perf_counter() - started
    run.metrics = dict(run.metrics or {}, train_seconds=elapsed,
                       tokens_per_second=tokens_per_step * timed_steps /
                       max(time.perf_counter() - (timed_from or started), 1e-9),
                       last_loss=losses[-1] if losses else None)
    return losses
