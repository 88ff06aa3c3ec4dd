"""Tokens per second of a GPT training step on one CUDA GPU: zili against PyTorch, same GPU.

Two models (issue 14's): ``demo`` (6 layers, width 384, 6 heads, context 256, vocabulary
8192, batch 64) and ``gpt2`` (GPT-2 small: 12 layers, width 768, 12 heads, context 1024,
vocabulary 50304, batch 16). Same step on both sides: forward, backward, gradient clipping,
AdamW with decay on matrices. Runners, each alone on the GPU one after another (build,
warm-up steps, then the median of the timed steps, each ended by a synchronize):

* ``torch``: PyTorch float32 eager; ``torch+bf16``: under ``torch.autocast("cuda",
  bfloat16)``; ``torch+bf16+compile``: the model also through ``torch.compile``. PyTorch's
  attention is its fused ``scaled_dot_product_attention`` (flash attention), its strongest
  form, and TF32 products are allowed for float32 (``set_float32_matmul_precision("high")``).
* ``cuda``, ``cuda+jit``, ``cuda+jit+bf16``: zili's cuda device, eager, ``zili.jit``, and jit
  under ``zili.autocast("cuda", dtype=bfloat16)``.

Usage (on a machine with an NVIDIA GPU, CuPy and PyTorch with CUDA):

    python bench/train_gpt_gpu.py --model demo [--steps 10] [--warmup 3] [--runners ...]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from torch_gpt import TorchGPT, torch_optimizer  # noqa: E402
from train_gpt import LOSSES, batches, zili_steps  # noqa: E402

import zili  # noqa: E402
from zili.models.gpt import GPTConfig  # noqa: E402
from zili.train import TrainSettings  # noqa: E402

MODELS = {
    "demo": (GPTConfig(vocab_size=8192, block_size=256, n_layer=6, n_head=6, n_embd=384), 64),
    "gpt2": (GPTConfig(vocab_size=50304, block_size=1024, n_layer=12, n_head=12, n_embd=768),
             16),
}


def torch_steps(config: GPTConfig, data: list, settings: TrainSettings,
                modes: list[str]) -> Iterator[float]:
    """Seconds of each PyTorch step on the GPU (``bf16``: autocast; ``compile``)."""
    torch.set_float32_matmul_precision("high")
    torch.manual_seed(0)
    model = TorchGPT(config.vocab_size, config.block_size, config.n_layer, config.n_head,
                     config.n_embd, fused_attention=True).cuda()
    optimizer = torch_optimizer(model, settings.lr, settings.weight_decay,
                                (settings.beta1, settings.beta2))
    forward = torch.compile(model) if "compile" in modes else model
    losses = LOSSES.setdefault("+".join(["torch", *modes]), [])
    for x, y in data:
        xt, yt = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled="bf16" in modes):
            _, loss = forward(xt, yt)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        losses.append(loss.item())
        torch.cuda.synchronize()
        yield time.perf_counter() - start


def run(runner: str, config: GPTConfig, data: list, settings: TrainSettings,
        warmup: int) -> tuple[float, float]:
    """(median seconds per timed step, seconds of the warm-up) of one runner."""
    name, *modes = runner.split("+")
    steps = torch_steps(config, data, settings, modes) if name == "torch" else \
        zili_steps(runner, config, data, settings)
    start = time.perf_counter()
    seconds = [next(steps) for _ in data]
    warm = time.perf_counter() - start - sum(seconds[warmup:])
    del steps
    gc.collect()
    torch.cuda.empty_cache()
    return float(np.median(seconds[warmup:])), warm


def main() -> None:
    """Run the runners one after another and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="demo")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3,
                        help="steps before timing (jit: call 1 eager, call 2 traces)")
    parser.add_argument("--runners",
                        default="torch,torch+bf16,torch+bf16+compile,cuda+jit,cuda+jit+bf16")
    args = parser.parse_args()
    config, batch = MODELS[args.model]
    settings = TrainSettings()
    data = batches(config, batch, args.warmup + args.steps)
    tokens = batch * config.block_size
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}, zili "
          f"{zili.get_device('cuda').capabilities().description}")
    print(f"model {args.model}: {config.n_layer} layers, width {config.n_embd}, "
          f"{config.n_head} heads, context {config.block_size}, vocabulary "
          f"{config.vocab_size}; batch {batch} ({tokens:,} tokens/step); median of "
          f"{args.steps} steps after {args.warmup} warm-up steps", flush=True)
    results = []
    for runner in args.runners.split(","):
        seconds, warm = run(runner, config, data, settings, args.warmup)
        results.append((runner, seconds, warm))
        print(f"  {runner:<22} {seconds * 1e3:9.1f} ms/step {tokens / seconds:>12,.0f} tok/s "
              f"(warm-up {warm:.1f} s)", flush=True)
    reference = dict((r, s) for r, s, _ in results).get("torch+bf16")
    print(f"\n{'runner':<22} {'ms/step':>9} {'tokens/s':>12} {'vs torch+bf16':>14}")
    for runner, seconds, _ in results:
        ratio = f"{reference / seconds:.2f}x" if reference else "-"
        print(f"{runner:<22} {seconds * 1e3:>9.1f} {tokens / seconds:>12,.0f} {ratio:>14}")
    print("\nlosses of the first steps (same data; zili and PyTorch start from different "
          "weights):")
    for runner, losses in LOSSES.items():
        print(f"  {runner:<22} " + " ".join(f"{loss:.4f}" for loss in losses[:6]))


if __name__ == "__main__":
    main()
