"""``zili train --model DIR --lora R --data BUILD``: LoRA fine-tuning of a Hugging Face
model folder (the work is :func:`zili.train.finetune.lora_finetune`; this parses and
prints)."""

from __future__ import annotations

import argparse
from typing import Any

from zili.train.finetune import DEFAULT_TARGETS, lora_finetune


def add_lora_options(p: argparse.ArgumentParser) -> None:
    """The ``--model``/``--lora`` options of ``zili train``."""
    g = p.add_argument_group("LoRA fine-tuning of a Hugging Face model (--model)")
    g.add_argument("--model", default=None, metavar="DIR",
                   help="Hugging Face model folder to fine-tune with LoRA adapters")
    g.add_argument("--lora", type=int, default=8, metavar="R",
                   help="adapter rank (%(default)s)")
    g.add_argument("--lora-alpha", type=float, default=None,
                   help="adapter scale numerator (default: 2 * rank)")
    g.add_argument("--lora-targets", default=",".join(DEFAULT_TARGETS),
                   help="comma-separated names of the linear layers to adapt (%(default)s)")
    g.add_argument("--dtype", default=None,
                   help="dtype of the frozen base, e.g. bfloat16 (default: the stored one)")


def cmd_train_lora(args: argparse.Namespace) -> int:
    """Fine-tune, print the losses, write the adapters into --out.

    Raises:
        ValueError: no --data build given.
    """
    if not args.data:
        raise ValueError("train --model needs --data BUILD (a `zili data build` folder)")
    out: Any = args.out or "runs/lora"
    result = lora_finetune(args.model, args.data, out, rank=args.lora,
                           alpha=args.lora_alpha, steps=args.steps or 100, lr=args.lr,
                           batch_size=args.batch_size, context=args.context,
                           dtype=args.dtype, device=args.device, seed=args.seed,
                           targets=[t for t in args.lora_targets.split(",") if t])
    print(f"adapters written to {result.out} (adapter_model.safetensors, "
          "adapter_config.json)")
    return 0
