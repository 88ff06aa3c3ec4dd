"""``zili generate``: continue prompts with a trained GPT checkpoint."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import zili
from zili.data.sources import tokenizer_from_record, unknown_characters
from zili.models.gpt import GPT
from zili.train import load_checkpoint, model_from_checkpoint


def complete(model: GPT, tokenizer: Any, prompt: str, max_new_tokens: int,
             temperature: float = 0.8, top_k: int | None = 40) -> str:
    """The prompt followed by ``max_new_tokens`` sampled tokens, decoded.

    Raises:
        ValueError: an empty prompt, or one with no token the tokenizer knows.
    """
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError("generate: the prompt is empty; pass some text with --prompt")
    idx = zili.tensor([ids], dtype=zili.int64, device=next(model.parameters()).device)
    out = model.generate(idx, max_new_tokens, temperature=temperature,
                         top_k=top_k if top_k else None)
    return tokenizer.decode(out[0].tolist())


def generate_texts(checkpoint: str, prompts: Sequence[str], max_new_tokens: int = 100,
                   temperature: float = 0.8, top_k: int | None = 40, seed: int = 0,
                   device: Any = None) -> list[str]:
    """Load ``checkpoint`` and complete every prompt (seeded, so reproducible)."""
    state = load_checkpoint(checkpoint)
    model = model_from_checkpoint(state, device=zili.get_device(device))
    tokenizer = tokenizer_from_record(state["tokenizer"], str(checkpoint))
    for prompt in prompts:
        unknown = unknown_characters(tokenizer, prompt)
        if unknown:  # they encode as <unk> and come back as "□": say so, never silently
            print(f"generate: the prompt {prompt!r} has characters outside the model's "
                  f"vocabulary, encoded as <unk> (shown as □): {' '.join(unknown)}",
                  file=sys.stderr)
    zili.manual_seed(seed)
    return [complete(model, tokenizer, p, max_new_tokens, temperature, top_k) for p in prompts]


def cmd_generate(args: argparse.Namespace) -> int:
    """Print the continuation of each ``--prompt``."""
    texts = generate_texts(args.checkpoint, args.prompt, args.max_new_tokens,
                           args.temperature, args.top_k, args.seed, args.device)
    for prompt, text in zip(args.prompt, texts):
        print(f"[{prompt}] {text}")
    return 0
