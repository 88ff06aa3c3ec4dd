"""``zili generate``: continue prompts with a trained GPT checkpoint (``--checkpoint``) or a
Hugging Face model folder (``--model DIR``, streamed as tokens come; ``--chat`` wraps the
prompt in the ChatML chat template)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import zili
from zili.data.sources import tokenizer_from_record, unknown_characters
from zili.models.gpt import GPT
from zili.models.hub import from_pretrained
from zili.models.textgen import stream_text
from zili.train import load_checkpoint, model_from_checkpoint


def add_generate_parser(sub: Any) -> None:
    """The ``generate`` subcommand and its options."""
    gen = sub.add_parser("generate", help="continue prompts with a trained GPT or a Hugging "
                                          "Face model folder",
                         description="Load a checkpoint (--checkpoint) or a Hugging Face "
                                     "folder of the LLaMA/Qwen2 family (--model) and print "
                                     "the continuation of each prompt.")
    source = gen.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="path to a zili GPT ckpt.safetensors")
    source.add_argument("--model", metavar="DIR",
                        help="Hugging Face folder: config.json, *.safetensors, tokenizer.json")
    gen.add_argument("--prompt", action="append", required=True,
                     help="text to continue (repeatable)")
    gen.add_argument("--chat", action="store_true",
                     help="--model: treat each prompt as a user message of a ChatML chat")
    gen.add_argument("--max-new-tokens", type=int, default=100,
                     help="tokens to generate per prompt (%(default)s)")
    gen.add_argument("--temperature", type=float, default=0.8,
                     help="sampling temperature; 0 picks the most likely token (%(default)s)")
    gen.add_argument("--top-k", type=int, default=40,
                     help="sample among the k most likely tokens (0: all; %(default)s)")
    gen.add_argument("--top-p", type=float, default=None,
                     help="--model: nucleus sampling, keep the most likely tokens whose "
                          "probability reaches this (default: off)")
    gen.add_argument("--dtype", default=None,
                     help="--model: compute dtype (default: the checkpoint's own)")
    gen.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    gen.add_argument("--device", default=None, help="zili device (default: best available)")
    gen.set_defaults(func=cmd_generate)


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
    """Print the continuation of each ``--prompt`` (streamed for ``--model``).

    Raises:
        ValueError: ``--chat`` without ``--model``, or a model folder without tokenizer.json.
    """
    if args.model:
        return _generate_hf(args)
    if args.chat:
        raise ValueError("--chat needs --model DIR (a chat model's Hugging Face folder)")
    texts = generate_texts(args.checkpoint, args.prompt, args.max_new_tokens,
                           args.temperature, args.top_k, args.seed, args.device)
    for prompt, text in zip(args.prompt, texts):
        print(f"[{prompt}] {text}")
    return 0


def _generate_hf(args: argparse.Namespace) -> int:
    model = from_pretrained(args.model, dtype=args.dtype, device=args.device)
    if model.tokenizer is None:
        raise ValueError(f"{args.model}: no tokenizer.json, so prompts cannot be encoded")
    zili.manual_seed(args.seed)
    for prompt in args.prompt:
        print(f"[{prompt}] ", end="", flush=True)
        for piece in stream_text(model, model.tokenizer, prompt, args.max_new_tokens,
                                 args.temperature, args.top_k or None, args.top_p,
                                 chat=args.chat):
            sys.stdout.write(piece)
            sys.stdout.flush()
        print()
    return 0
