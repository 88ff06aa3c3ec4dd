"""Fused elementwise and reduction expressions on large arrays: achieved GB/s of zili-cpu
(jit, fused kernels) beside NumPy and PyTorch (CPU) in the same run.

GB/s counts the bytes each expression must read and write at least once (inputs + output),
so a fused kernel that makes one pass scores highest. Usage: python bench/ops.py [N]."""

from __future__ import annotations

import platform
import sys
import time

import numpy as np
import torch

import zili

EXPRS = {
    "a*b+c": (lambda a, b, c: a * b + c, 3, 1),
    "((a*b)+c).exp().sum(-1)": (lambda a, b, c: ((a * b) + c).exp().sum(-1), 3, 0),
    "(a-b).abs().amax(-1)": (lambda a, b, c: (a - b).abs().amax(-1), 2, 0),
    "softmax(a)": (lambda a, b, c: a.softmax(-1), 1, 1),
}


def _time(fn, repeat: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Print the GB/s table."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 22
    rows, cols = n // 1024, 1024
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((rows, cols)).astype(np.float32) for _ in range(3)]
    ta = [torch.tensor(a) for a in arrays]
    za = [zili.tensor(a, device="cpu") for a in arrays]
    np_fns = {
        "a*b+c": lambda a, b, c: a * b + c,
        "((a*b)+c).exp().sum(-1)": lambda a, b, c: np.exp(a * b + c).sum(-1),
        "(a-b).abs().amax(-1)": lambda a, b, c: np.abs(a - b).max(-1),
        "softmax(a)": lambda a, b, c: (lambda e: e / e.sum(-1, keepdims=True))(
            np.exp(a - a.max(-1, keepdims=True))),
    }
    print(f"machine: {platform.processor() or platform.machine()}, torch threads "
          f"{torch.get_num_threads()}; {rows}x{cols} float32")
    print(f"{'expression':28s} {'zili-cpu':>10s} {'numpy':>10s} {'torch':>10s}  (GB/s)")
    for name, (fn, n_in, n_out) in EXPRS.items():
        jitted = zili.jit(fn)
        jitted(*za)
        jitted(*za)
        nbytes = rows * cols * 4 * (n_in + n_out) + (rows * 4 if n_out == 0 else 0)
        np_fn = np_fns[name]
        torch_fn = fn if name != "softmax(a)" else (lambda a, b, c: a.softmax(-1))
        z = _time(lambda j=jitted: j(*za))
        p = _time(lambda f=np_fn: f(*arrays))
        t = _time(lambda f=torch_fn: f(*ta))
        print(f"{name:28s} {nbytes / z / 1e9:10.2f} {nbytes / p / 1e9:10.2f} "
              f"{nbytes / t / 1e9:10.2f}   kernels={jitted.plan.kernel_count}")


if __name__ == "__main__":
    main()
