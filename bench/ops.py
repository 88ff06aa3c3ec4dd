"""Kernels of the GPT training step, zili's cpu device beside PyTorch and NumPy in one run.

(a) matrix products at the step's shapes (forward, input-gradient and weight-gradient
    product of every linear layer, the vocabulary projection, the attention's batched
    products) in GFLOP/s, with the machine's peak (cores x FMA lanes x 2 FMA pipes x 2
    flops x clock) stated; (a2) decode-sized products (1 and 8 rows) of a Qwen2-shaped model;
(b) fused elementwise work and row/column reductions in GB/s (bytes each must read and
    write once) beside a plain copy of the same bytes;
(c) attention forward + backward (causal) against PyTorch's scaled_dot_product_attention;
(d) conv2d forward + backward at ResNet shapes, batch 32, against PyTorch CPU.

Frameworks take turns call by call and each row reports the median, so load changes on a
shared machine hit all of them; the load average is printed before and after. Usage:

    python bench/ops.py [--tokens 2048] [--repeat 7]
                        [--only matmul,skinny,bandwidth,attention,conv]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_gpt import cores, cpu_name  # noqa: E402

import zili  # noqa: E402
import zili.nn.functional as F  # noqa: E402

WIDTH, HEADS, CONTEXT, VOCAB = 192, 4, 128, 3600
LINEARS = [("attn qkv", WIDTH, 3 * WIDTH), ("attn proj", WIDTH, WIDTH),
           ("mlp fc", WIDTH, 4 * WIDTH), ("mlp proj", 4 * WIDTH, WIDTH),
           ("vocab head", WIDTH, VOCAB)]


def load() -> str:
    """The 1-minute load average."""
    return f"{os.getloadavg()[0]:.1f}"


def race(fns: list[Callable[[], object]], repeat: int) -> list[float]:
    """Median seconds of each function, calling them in turn ``repeat`` times (after one
    warm-up call each)."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, record in zip(fns, times):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def peak_gflops() -> tuple[float, str]:
    """cores x FMA pipes x float lanes per pipe x 2 flops x the clock /proc/cpuinfo gives.

    Two FMA pipes per core; each is as wide as the vector unit (8 lanes for AVX2, 16 for
    AVX-512) except on AMD Zen and Zen+ (family 23, model below 0x30), whose two pipes are
    128 bits wide (4 lanes): a 256-bit FMA occupies both. /proc/cpuinfo reports the base
    clock; a boost clock can exceed it (this VM's 2-core EPYC ran a plain FMA loop at 39
    GFLOP/s per core, 1.2x the base-clock figure)."""
    path = Path("/proc/cpuinfo")
    mhz, text = 0.0, path.read_text() if path.exists() else ""
    for line in text.splitlines():
        if line.startswith("cpu MHz"):
            mhz = max(mhz, float(line.split(":")[1]))
    facts = dict(line.split(":", 1) for line in text.splitlines()[:30] if ":" in line)
    facts = {k.strip(): v.strip() for k, v in facts.items()}
    zen1 = facts.get("vendor_id") == "AuthenticAMD" and facts.get("cpu family") == "23" and \
        int(facts.get("model", "0")) < 0x30
    lanes = 4 if zen1 else 16 if "avx512f" in text else 8
    peak = cores() * 2 * lanes * 2 * mhz / 1000
    return peak, (f"{cores()} cores x 2 FMA pipes x {lanes} lanes x 2 flops x {mhz / 1000:.2f} "
                  f"GHz = {peak:.0f} GFLOP/s (base clock as /proc/cpuinfo reports it"
                  f"{'; Zen/Zen+: 128-bit FMA pipes' if zen1 else ''})")


def products(rng: np.random.Generator, tokens: int, fan_in: int, fan_out: int) -> list:
    """The three products of one linear layer (forward, input and weight gradient) as
    (label, (M, N, K), zili, PyTorch, NumPy) with the transposes the step uses."""
    x = rng.standard_normal((tokens, fan_in)).astype(np.float32)
    w = rng.standard_normal((fan_out, fan_in)).astype(np.float32)
    dy = rng.standard_normal((tokens, fan_out)).astype(np.float32)
    zx, zw, zdy = (zili.tensor(a, device="cpu") for a in (x, w, dy))
    tx, tw, tdy = (torch.from_numpy(a) for a in (x, w, dy))
    return [("x @ W^T", (tokens, fan_out, fan_in), lambda: zx @ zw.T, lambda: tx @ tw.T,
             lambda: x @ w.T),
            ("dy @ W", (tokens, fan_in, fan_out), lambda: zdy @ zw, lambda: tdy @ tw,
             lambda: dy @ w),
            ("dy^T @ x", (fan_out, fan_in, tokens), lambda: zdy.T @ zx, lambda: tdy.T @ tx,
             lambda: dy.T @ x)]


def matmuls(tokens: int, repeat: int) -> None:
    """Table (a)."""
    rng = np.random.default_rng(0)
    zili.get_device("cpu").matmul_library = "zili"  # the generated SGEMM, not the BLAS path
    peak, how = peak_gflops()
    print(f"\n(a) matrix products, {tokens} tokens, float32, GFLOP/s; peak {how}")
    print(f"{'product':<24} {'M x N x K':>18} {'zili':>7} {'PyTorch':>8} {'NumPy':>7} "
          f"{'zili/best':>9}")
    for name, fan_in, fan_out in LINEARS:
        cases = products(rng, tokens, fan_in, fan_out)
        for label, (m, n, k), *fns in cases:
            seconds = race(fns, repeat)
            rates = [2 * m * n * k / s / 1e9 for s in seconds]
            print(f"{name + ' ' + label:<24} {f'{m}x{n}x{k}':>18} {rates[0]:>7.1f} "
                  f"{rates[1]:>8.1f} {rates[2]:>7.1f} {rates[0] / max(rates[1:]):>8.2f}x")
    for label, (batch, m, n, k), *fns in attention_products(rng, tokens):
        seconds = race(fns, repeat)
        rates = [2 * batch * m * n * k / s / 1e9 for s in seconds]
        print(f"{label:<24} {f'{batch}x {m}x{n}x{k}':>18} {rates[0]:>7.1f} "
              f"{rates[1]:>8.1f} {rates[2]:>7.1f} {rates[0] / max(rates[1:]):>8.2f}x")
    print(f"peak {peak:.0f} GFLOP/s")


def attention_products(rng: np.random.Generator, tokens: int) -> list:
    """The attention's batched products (one per (sequence, head)) of the step, forward and
    backward, on q, k, v as the strided views of the qkv projection that the model uses."""
    head = WIDTH // HEADS
    qkv = rng.standard_normal((tokens // CONTEXT, CONTEXT, 3, HEADS, head)).astype(np.float32)
    att = rng.standard_normal((tokens // CONTEXT, HEADS, CONTEXT, CONTEXT)).astype(np.float32)
    dy = rng.standard_normal((tokens // CONTEXT, HEADS, CONTEXT, head)).astype(np.float32)
    zqkv, zatt, zdy = (zili.tensor(a, device="cpu") for a in (qkv, att, dy))
    tqkv, tatt, tdy = (torch.from_numpy(a) for a in (qkv, att, dy))
    z = [zqkv[:, :, i].permute(0, 2, 1, 3) for i in range(3)]
    t = [tqkv[:, :, i].permute(0, 2, 1, 3) for i in range(3)]
    n = [qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3)]
    batch = tokens // CONTEXT * HEADS
    return [("attn q @ k^T", (batch, CONTEXT, CONTEXT, head),
             lambda: z[0] @ z[1].transpose(-1, -2), lambda: t[0] @ t[1].transpose(-1, -2),
             lambda: n[0] @ n[1].swapaxes(-1, -2)),
            ("attn att @ v", (batch, CONTEXT, head, CONTEXT), lambda: zatt @ z[2],
             lambda: tatt @ t[2], lambda: att @ n[2]),
            ("attn dy @ v^T", (batch, CONTEXT, CONTEXT, head),
             lambda: zdy @ z[2].transpose(-1, -2), lambda: tdy @ t[2].transpose(-1, -2),
             lambda: dy @ n[2].swapaxes(-1, -2)),
            ("attn att^T @ dy", (batch, CONTEXT, head, CONTEXT),
             lambda: zatt.transpose(-1, -2) @ zdy, lambda: tatt.transpose(-1, -2) @ tdy,
             lambda: att.swapaxes(-1, -2) @ dy)]


# A decode step of bench/generate.py's Qwen2-shaped model (hidden 768, MLP 2048, vocabulary
# 32000; q/o 768 -> 768, k/v 768 -> 256 with grouped heads): batch x 1 token times weights.
DECODE = [("q/o proj", 768, 768), ("k/v proj", 768, 256), ("mlp up/gate", 768, 2048),
          ("mlp down", 2048, 768), ("vocab head", 768, 32000)]


def in_blocks(fns: list[Callable[[], object]], repeat: int, calls: int = 20) -> list[float]:
    """Median seconds per call of each function, timed over ``repeat`` blocks of ``calls``
    calls each, one framework's block after the other. A decode product takes 10-100 us:
    alternating call by call, each framework's thread pool, still spinning after its call,
    took the two cores from the next one's and every row came out 10-100x slow."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, record in zip(fns, times):
            fn()
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            record.append((time.perf_counter() - start) / calls)
    return [float(np.median(t)) for t in times]


def skinny(tokens: int, repeat: int) -> None:
    """Table (a2): decode products x @ W^T with 1 and 8 rows (nn.Linear's layout), timed in
    blocks of calls per framework (:func:`in_blocks`)."""
    del tokens
    rng = np.random.default_rng(1)
    print("\n(a2) decode products x @ W^T (1 or 8 rows: batch x 1 token), float32, GFLOP/s")
    print(f"{'product':<24} {'M x N x K':>18} {'zili':>7} {'PyTorch':>8} {'NumPy':>7} "
          f"{'zili/best':>9}")
    for name, fan_in, fan_out in DECODE:
        w = rng.standard_normal((fan_out, fan_in)).astype(np.float32)
        zw, tw = zili.tensor(w, device="cpu"), torch.from_numpy(w)
        for rows in (1, 8):
            x = rng.standard_normal((rows, fan_in)).astype(np.float32)
            zx, tx = zili.tensor(x, device="cpu"), torch.from_numpy(x)
            seconds = in_blocks([lambda: zx @ zw.T, lambda: tx @ tw.T,  # noqa: B023
                                 lambda: x @ w.T], repeat)  # noqa: B023
            rates = [2 * rows * fan_in * fan_out / s / 1e9 for s in seconds]
            print(f"{name:<24} {f'{rows}x{fan_out}x{fan_in}':>18} {rates[0]:>7.1f} "
                  f"{rates[1]:>8.1f} {rates[2]:>7.1f} {rates[0] / max(rates[1:]):>8.2f}x")


def bandwidth(tokens: int, repeat: int) -> None:
    """Table (b)."""
    rows, cols = tokens, VOCAB
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal((rows, cols)).astype(np.float32) for _ in range(3))
    za, zb, zc = (zili.tensor(x, device="cpu") for x in (a, b, c))
    ta, tb, tc = (torch.from_numpy(x) for x in (a, b, c))
    dst = np.empty_like(a)
    size = a.nbytes
    print(f"\n(b) memory-bound kernels on ({rows}, {cols}) float32 ({size / 2**20:.0f} MiB per "
          "array), GB/s of the bytes each must move; copy = np.copyto of one array")
    fused = zili.jit(lambda x, y, z: (x * y + z).relu())
    cases = [("(a*b+c).relu()", 4 * size, lambda: fused(za, zb, zc),
              lambda: torch.relu(ta * tb + tc))]
    # Reductions (zili/compiler/reduce_c.py): the row path (innermost axis reduced) and the
    # column path, jitted; softmax reads and writes the array, (a*b).sum reads two.
    for label, moved, fn in [
            ("a.sum(-1) rows", size, lambda x: x.sum(-1)),
            ("a.sum(0) columns", size, lambda x: x.sum(0)),
            ("a.amax(-1) rows", size, lambda x: x.amax(-1)),
            ("a.amax(0) columns", size, lambda x: x.amax(0)),
            ("a.var(-1) rows", size, lambda x: x.var(-1)),
            ("a.var(0) columns", size, lambda x: x.var(0)),
            ("a.softmax(-1)", 2 * size, lambda x: x.softmax(-1)),
            ("(a*b).sum(0)", 2 * size, lambda x, y: (x * y).sum(0))]:
        two = label.startswith("(a*b)")
        jitted = zili.jit(fn)
        cases.append((label, moved, (lambda j=jitted, t=two: j(za, zb) if t else j(za)),
                      (lambda f=fn, t=two: f(ta, tb) if t else f(ta))))
    print(f"{'kernel':<20} {'zili':>7} {'PyTorch':>8} {'copy':>7} {'zili/copy':>9} "
          f"{'zili/torch':>10}")
    for label, moved, zfn, tfn in cases:
        seconds = race([zfn, tfn, lambda: np.copyto(dst, a)], repeat)
        rates = [moved / seconds[0] / 1e9, moved / seconds[1] / 1e9, 2 * size / seconds[2] / 1e9]
        print(f"{label:<20} {rates[0]:>7.1f} {rates[1]:>8.1f} {rates[2]:>7.1f} "
              f"{rates[0] / rates[2]:>8.2f}x {rates[0] / rates[1]:>9.2f}x")


def attention(tokens: int, repeat: int) -> None:
    """Table (c)."""
    batch = max(1, tokens // CONTEXT)
    shape = (batch, HEADS, CONTEXT, WIDTH // HEADS)
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
    device = zili.get_device("cpu")
    zq, zk, zv = (zili.tensor(x, device="cpu", requires_grad=True) for x in arrays[:3])
    zg = zili.tensor(arrays[3], device="cpu")
    tq, tk, tv = (torch.from_numpy(x).requires_grad_() for x in arrays[:3])
    tg = torch.from_numpy(arrays[3])

    def zili_step(fused: bool) -> None:
        saved, device.use_fused = device.use_fused, fused
        try:
            F.scaled_dot_product_attention(zq, zk, zv, is_causal=True).backward(zg)
        finally:
            device.use_fused = saved

    def torch_step() -> None:
        torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True) \
            .backward(tg)

    seconds = race([lambda: zili_step(True), lambda: zili_step(False), torch_step], repeat)
    print(f"\n(c) causal attention forward + backward, (batch, heads, T, head) = {shape}, "
          "ms (eager)")
    print(f"{'zili fused':>10} {'zili composite':>15} {'PyTorch SDPA':>13} {'fused vs torch':>15}")
    print(f"{seconds[0] * 1e3:>10.1f} {seconds[1] * 1e3:>15.1f} {seconds[2] * 1e3:>13.1f} "
          f"{seconds[2] / seconds[0]:>14.2f}x")


# ResNet-style 3x3 convolutions at batch 32: (channels in, out, spatial, stride).
CONVOLUTIONS = [("stage 3 block", 256, 256, 14, 1), ("stage 2 -> 3 down", 128, 256, 28, 2)]


def convolution(tokens: int, repeat: int) -> None:
    """Table (d): conv2d forward + backward (input, weight and bias gradients), zili's cpu
    device (im2col as a window view + one matrix product) beside PyTorch CPU, batch 32."""
    del tokens  # the shapes are ResNet's, not the GPT's
    rng = np.random.default_rng(3)
    print("\n(d) conv2d 3x3 forward + backward, batch 32, float32, ms (eager)")
    print(f"{'layer':>18} {'(N, C, H, W) -> out':>28} {'zili cpu':>9} {'PyTorch':>8} "
          f"{'zili/torch speed':>17}")
    for name, cin, cout, size, stride in CONVOLUTIONS:
        x = rng.standard_normal((32, cin, size, size)).astype(np.float32)
        w = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(cin * 9)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        zx, zw, zb = (zili.tensor(a, device="cpu", requires_grad=True) for a in (x, w, b))
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        out = size // stride
        grad = rng.standard_normal((32, cout, out, out)).astype(np.float32)
        zg, tg = zili.tensor(grad, device="cpu"), torch.from_numpy(grad)

        def zili_step() -> None:
            F.conv2d(zx, zw, zb, stride=stride, padding=1).backward(zg)  # noqa: B023
            zili.get_device("cpu").synchronize()

        def torch_step() -> None:
            torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=1).backward(tg)  # noqa: B023

        zs, ts = race([zili_step, torch_step], repeat)
        shape = f"({32}, {cin}, {size}, {size}) -> {cout}"
        print(f"{name:>18} {shape:>28} {zs * 1e3:>9.1f} {ts * 1e3:>8.1f} {ts / zs:>16.2f}x")


def main() -> None:
    """Run the chosen tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048, help="batch x context (16 x 128)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", default="matmul,skinny,bandwidth,attention,conv")
    args = parser.parse_args()
    torch.set_num_threads(cores())
    print(f"machine: {cpu_name()}, {cores()} cores; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), numpy {np.__version__}; load before {load()}")
    tables = {"matmul": matmuls, "skinny": skinny, "bandwidth": bandwidth,
              "attention": attention, "conv": convolution}
    for name in args.only.split(","):
        tables[name](args.tokens, args.repeat)
    print(f"\nload after {load()}")


if __name__ == "__main__":
    main()
