"""Tokens per second of the demo's GPT training step: zili against PyTorch on the CPU.

Same model (the `zili demo` GPT), same batch, same step (forward, backward, gradient
clipping, AdamW with decay on matrices), measured in one process run after warm-up
steps. PyTorch uses as many threads as there are cores. A device name ending in ``+jit``
runs the step as a ``zili.jit``-compiled plan (its warm-up must cover the eager first call
and the tracing second call). The default prints numpy eager, cpu eager, cpu jit and
PyTorch. Usage:

    .venv/bin/python bench/train_gpt.py [--steps 5] [--warmup 2] [--devices numpy,cpu,cpu+jit]

``--devices cpu,opencl`` compares two devices; the losses of every step are printed for
each zili device, with the largest difference between them.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import zili  # noqa: E402
from zili.models.gpt import GPT, GPTConfig  # noqa: E402
from zili.train import TrainSettings, batch_tensors, make_optimizer, make_train_step  # noqa: E402


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (or what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def batches(config: GPTConfig, batch: int, count: int, seed: int = 0) -> list:
    """``count`` random (x, y) id batches."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, config.vocab_size, (batch, config.block_size)),
             rng.integers(0, config.vocab_size, (batch, config.block_size)))
            for _ in range(count)]


LOSSES: dict[str, list[float]] = {}  # runner -> loss of every step


def zili_steps(device: str, config: GPTConfig, data: list,
               settings: TrainSettings) -> Iterator[float]:
    """Seconds of each step of zili on ``device`` (``name+jit``: compiled with jit;
    ``+gemm`` / ``+blas``: the cpu device's float32 products in zili's generated SGEMM / in
    NumPy's BLAS; without either, the device's default; ``+bf16``: under
    ``zili.autocast(device, dtype=bfloat16)``)."""
    losses = LOSSES.setdefault(device, [])
    device, *modes = device.split("+")
    zili.manual_seed(0)
    model = GPT(config).to(device)
    optimizer = make_optimizer(model, settings)
    step = make_train_step(model, optimizer, settings.grad_clip, use_jit="jit" in modes)
    dev = zili.get_device(device)
    default = getattr(dev, "matmul_library", None)
    library = "zili" if "gemm" in modes else "blas" if "blas" in modes else default
    for x, y in data:
        xt, yt = batch_tensors(x, y, dev)
        if default is not None:  # rows alternate on one device object
            dev.matmul_library = library
        start = time.perf_counter()
        with zili.autocast(device, dtype=zili.bfloat16, enabled="bf16" in modes):
            losses.append(step(xt, yt, settings.lr))
        dev.synchronize()
        yield time.perf_counter() - start


def torch_steps(config: GPTConfig, data: list, settings: TrainSettings) -> Iterator[float]:
    """Seconds of each step of PyTorch on the CPU."""
    import torch
    from torch_gpt import TorchGPT, torch_optimizer

    torch.set_num_threads(cores())
    torch.manual_seed(0)
    model = TorchGPT(config.vocab_size, config.block_size, config.n_layer, config.n_head,
                     config.n_embd)
    optimizer = torch_optimizer(model, settings.lr, settings.weight_decay,
                                (settings.beta1, settings.beta2))
    for x, y in data:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        start = time.perf_counter()
        _, loss = model(xt, yt)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        loss.item()
        yield time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="measured steps")
    parser.add_argument("--warmup", type=int, default=3,
                        help="steps run before timing (jit: call 1 eager, call 2 traces)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=3600,
                        help="vocabulary size (the demo's character vocabulary is ~3,600)")
    parser.add_argument("--devices", default="numpy,cpu,cpu+jit",
                        help="zili devices, comma-separated; +jit compiles the step, +gemm "
                             "/ +blas pick zili's SGEMM / NumPy's BLAS for the cpu device's "
                             "products")
    parser.add_argument("--rss", action="store_true",
                        help="then run PyTorch and each device alone in a process of its own "
                             "and print its peak resident memory")
    parser.add_argument("--alone", help=argparse.SUPPRESS)  # one runner (used by --rss)
    args = parser.parse_args()
    if args.alone:
        alone(args)
        return
    config = GPTConfig(vocab_size=args.vocab, block_size=128, n_layer=4, n_head=4, n_embd=192)
    settings = TrainSettings()
    data = batches(config, args.batch_size, args.warmup + args.steps)
    tokens = args.batch_size * config.block_size
    import torch

    print(f"machine: {cpu_name()}, {cores()} cores; numpy {np.__version__}, "
          f"torch {torch.__version__}")
    print(f"model: GPT {config.n_layer} layers, width {config.n_embd}, {config.n_head} heads, "
          f"context {config.block_size}, vocabulary {config.vocab_size}; batch "
          f"{args.batch_size} x {config.block_size} = {tokens} tokens; AdamW step; "
          f"{args.warmup} warm-up steps excluded, median of {args.steps}; the frameworks "
          f"take turns step by step, so load changes on a shared machine hit all of them")
    devices = args.devices.split(",")
    runners = [torch_steps(config, data, settings)] + \
        [zili_steps(d, config, data, settings) for d in devices]
    times: list[list[float]] = [[] for _ in runners]
    for i in range(len(data)):
        for runner, record in zip(runners, times):
            seconds = next(runner)
            if i >= args.warmup:
                record.append(seconds)
    medians = [float(np.median(t)) for t in times]
    torch_s = medians[0]
    rows = [("PyTorch (CPU)", f"cpu x{torch.get_num_threads()}", torch_s)] + \
        [("zili", d, m) for d, m in zip(devices, medians[1:])]
    print(f"\n{'framework':<14} {'device':<10} {'s/step':>8} {'tokens/s':>10} "
          f"{'vs PyTorch':>10}")
    for name, device, seconds in rows:
        print(f"{name:<14} {device:<10} {seconds:>8.3f} {tokens / seconds:>10,.0f} "
              f"{torch_s / seconds:>9.2f}x")
    print("\nlosses per step (zili devices start from the same weights and data):")
    for device in devices:
        print(f"  {device:<10} " + " ".join(f"{loss:.5f}" for loss in LOSSES[device]))
    if len(devices) > 1:
        spread = np.ptp([LOSSES[d] for d in devices], axis=0).max()
        print(f"  largest difference between zili devices: {spread:.2e}")
    if args.rss:
        print("\npeak resident memory, each alone in its own process (same steps):")
        for name in ["torch", *devices]:
            cmd = [sys.executable, __file__, "--alone", name, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--batch-size", str(args.batch_size),
                   "--vocab", str(args.vocab)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            print(f"  {name:<12} {done.stdout.strip().splitlines()[-1]}")


def alone(args: argparse.Namespace) -> None:
    """Run one framework's steps and print its peak resident set size."""
    config = GPTConfig(vocab_size=args.vocab, block_size=128, n_layer=4, n_head=4, n_embd=192)
    settings = TrainSettings()
    data = batches(config, args.batch_size, args.warmup + args.steps)
    runner = torch_steps(config, data, settings) if args.alone == "torch" else \
        zili_steps(args.alone, config, data, settings)
    seconds = [next(runner) for _ in data][args.warmup:]
    # VmHWM, not getrusage's ru_maxrss: Linux carries the parent's peak across exec into
    # ru_maxrss, so a child started by a big parent would report the parent's peak.
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    print(f"{peak:,.0f} MiB peak RSS, {float(np.median(seconds)):.3f} s/step")


if __name__ == "__main__":
    main()
