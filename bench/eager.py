"""Eager per-primitive overhead: microseconds per operation on small tensors (Python
dispatch, autograd recording, kernel lookup and launch), zili's ``cpu`` and ``numpy``
devices beside PyTorch on the CPU, measured in one process run, frameworks taking turns.

Each row runs a loop of ``--loops`` operations on 16 x 16 float32 tensors (the arithmetic
itself is a few nanoseconds: what is measured is the overhead) and prints the median over
``--repeat`` rounds of CPU microseconds per operation. The MLP row is one forward and backward
pass of a 2-layer MLP (16 -> 32 -> 1, tanh-free: linear, relu, linear, mean) per loop,
counted per pass. One thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``) so
the numbers depend little on the machine's load (printed). Usage:

    OMP_NUM_THREADS=1 .venv/bin/python bench/eager.py [--loops 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zili  # noqa: E402


def cases(lib: Any, device: str | None) -> dict[str, Callable[[], Any]]:
    """name -> one operation (or one MLP pass) of ``lib`` (zili or torch) on ``device``."""
    rng = np.random.default_rng(0)

    def make(*shape: int, grad: bool = False) -> Any:
        data = rng.standard_normal(shape).astype(np.float32)
        if lib is zili:
            return zili.tensor(data, device=device, requires_grad=grad)
        return lib.tensor(data, requires_grad=grad)

    a, b = make(16, 16), make(16, 16)
    x = make(8, 16)
    w1, b1, w2, b2 = make(32, 16, grad=True), make(32, grad=True), make(1, 32, grad=True), \
        make(1, grad=True)
    relu = lib.nn.functional.relu
    linear = lib.nn.functional.linear

    def mlp() -> Any:
        loss = linear(relu(linear(x, w1, b1)), w2, b2).mean()
        loss.backward()
        w1.grad = b1.grad = w2.grad = b2.grad = None
        return loss

    return {"a + b": lambda: a + b, "a * b": lambda: a * b, "a.sum()": lambda: a.sum(),
            "a.exp()": lambda: a.exp(), "MLP fwd+bwd": mlp}


def measure(fn: Callable[[], Any], loops: int) -> float:
    """CPU microseconds of this process per call of ``fn`` over ``loops`` calls (CPU time,
    not wall time: on a busy machine the wall clock also counts other processes' turns)."""
    start = time.process_time()
    for _ in range(loops):
        fn()
    return 1e6 * (time.process_time() - start) / loops


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--devices", default="cpu,numpy")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    runners = {f"zili {d}": cases(zili, d) for d in args.devices.split(",")}
    runners["PyTorch"] = cases(torch, None)
    names = list(next(iter(runners.values())))
    results: dict[tuple[str, str], list[float]] = {}
    for name in names:
        for table in runners.values():
            table[name]()  # warm up: compile, allocate
        for _ in range(args.repeat):
            for who, table in runners.items():
                results.setdefault((who, name), []).append(measure(table[name], args.loops))
    print(f"eager overhead, CPU microseconds per operation (16 x 16 float32; MLP: per forward + "
          f"backward pass), median of {args.repeat} x {args.loops}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; load average "
          f"{os.getloadavg()[0]:.2f}")
    who_all = list(runners)
    print(f"{'operation':<14}" + "".join(f"{w:>14}" for w in who_all) +
          "".join(f"{w + '/torch':>18}" for w in who_all[:-1]))
    for name in names:
        med = {w: float(np.median(results[(w, name)])) for w in who_all}
        print(f"{name:<14}" + "".join(f"{med[w]:>14.1f}" for w in who_all) +
              "".join(f"{med[w] / med['PyTorch']:>17.1f}x" for w in who_all[:-1]))


if __name__ == "__main__":
    main()
