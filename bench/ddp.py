"""Data-parallel training throughput: tokens/s of the demo GPT on 1 and 2 MPI ranks (one
thread each), the scaling efficiency, and the share of a step spent waiting on the other
ranks (gradient all-reduce and the loss average).

Each rank trains with its own per-rank batch (global batch = ranks x batch), after warm-up
steps (under jit the first call runs eagerly and the second traces and compiles). The
machine may be shared: the load average before and after each run is printed with it.
Usage:

    .venv/bin/python bench/ddp.py [--ranks 1,2] [--steps 10] [--batch-size 8] [--no-jit]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import zili
import zili.distributed as dist
from zili.models.gpt import GPT, GPTConfig
from zili.nn.parallel import DistributedDataParallel
from zili.train import TrainSettings, batch_tensors, make_optimizer, make_train_step

CONFIG = GPTConfig(vocab_size=3600, block_size=128, n_layer=4, n_head=4, n_embd=192)


def worker(args: argparse.Namespace) -> None:
    """One rank: train, then rank 0 prints one JSON line of measurements."""
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = zili.get_device(args.device)
    zili.manual_seed(0)
    model = GPT(CONFIG).to(device)
    settings = TrainSettings()
    optimizer = make_optimizer(model, settings)
    ddp = DistributedDataParallel(model, bucket_cap_mb=args.bucket_mb)
    step = make_train_step(ddp, optimizer, settings.grad_clip, use_jit=args.jit)
    rng = np.random.default_rng(rank)
    shape = (args.batch_size, CONFIG.block_size)
    for _ in range(args.warmup):
        step(*batch_tensors(rng.integers(0, CONFIG.vocab_size, shape),
                            rng.integers(0, CONFIG.vocab_size, shape), device), 1e-3)
    dist.barrier()
    waited = ddp.comm_wait_seconds
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        step(*batch_tensors(rng.integers(0, CONFIG.vocab_size, shape),
                            rng.integers(0, CONFIG.vocab_size, shape), device), 1e-3)
    elapsed = time.perf_counter() - start
    # Per-rank counters that load does not distort: the CPU time the rank's threads used per
    # second of its step (about 1.0 for a rank that runs on one thread), its threads, and the
    # cores it may run on.
    mine = np.array([(ddp.comm_wait_seconds - waited) / elapsed,
                     (time.process_time() - cpu_start) / elapsed,
                     len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task")
                     else 0, len(os.sched_getaffinity(0))])
    every = np.zeros((world, mine.size))
    dist.group().all_gather(every, mine).wait()
    alpha, beta = link_speed() if world > 1 else (None, None)
    if rank == 0:
        tokens = world * args.batch_size * CONFIG.block_size * args.steps
        print(json.dumps({"ranks": world, "tokens_per_s": tokens / elapsed,
                          "s_per_step": elapsed / args.steps,
                          "wait_share": float(every[:, 0].max()),
                          "cpu_per_wall": every[:, 1].tolist(),
                          "threads": every[:, 2].astype(int).tolist(),
                          "cores_allowed": every[:, 3].astype(int).tolist(),
                          "buckets": len(ddp._buckets),
                          "early": [ddp.buckets_started_in_backward, ddp.buckets_sent],
                          "alpha": alpha, "beta": beta}),
              flush=True)


def link_speed() -> tuple[float, float]:
    """(latency s, bandwidth bytes/s) of an all-reduce between the ranks: the time of an
    8-byte one, and 16 MiB over the time of a 16 MiB one less the latency."""
    small, big = np.zeros(1), np.zeros(1 << 22, dtype=np.float32)
    times = []
    for array, reps in ((small, 50), (big, 5)):
        dist.group().all_reduce(array, dist.ReduceOp.SUM).wait()
        dist.barrier()
        start = time.perf_counter()
        for _ in range(reps):
            dist.group().all_reduce(array, dist.ReduceOp.SUM).wait()
        times.append((time.perf_counter() - start) / reps)
    return times[0], big.nbytes / max(times[1] - times[0], 1e-9)


def flops_per_token(c: GPTConfig) -> float:
    """Training FLOPs per token: 6 per parameter (forward 2, backward 4) plus attention's
    12 * layers * context * width (the usual estimate)."""
    return 6 * parameter_count(c) + 12 * c.n_layer * c.block_size * c.n_embd


def parameter_count(c: GPTConfig) -> int:
    """Parameters of a GPT of config ``c`` (what each step all-reduces): embeddings (the
    output layer shares the token embedding), 12 d^2 + 13 d per block, the final norm."""
    d = c.n_embd
    return c.vocab_size * d + c.block_size * d + c.n_layer * (12 * d * d + 13 * d) + 2 * d


def cost_table(name: str, config: GPTConfig, tokens_per_rank: int, flops: float,
               alpha: float, beta: float, label: str) -> None:
    """Print ring and tree all-reduce time per step against compute, 2 to 1,024 ranks."""
    size = 4 * parameter_count(config)
    compute = tokens_per_rank * flops_per_token(config) / flops
    print(f"\n{name}: {size / 1e6:,.1f} MB of float32 gradients per step; compute "
          f"{compute:.4g} s/step per rank ({tokens_per_rank} tokens at {flops / 1e9:.2f} "
          f"GFLOP/s); network {label}: latency {alpha * 1e6:,.0f} us, {beta / 1e9:.2f} GB/s")
    print(f"{'ranks':>6} {'ring s':>9} {'tree s':>9} {'ring eff.':>9} {'tree eff.':>9} "
          f"{'ring eff. overlapped':>21}")
    n = 2
    while n <= 1024:
        ring = 2 * (n - 1) * alpha + 2 * (n - 1) / n * size / beta
        steps = math.ceil(math.log2(n))
        tree = 2 * steps * (alpha + size / beta)
        print(f"{n:>6} {ring:>9.4f} {tree:>9.4f} {compute / (compute + ring):>9.1%} "
              f"{compute / (compute + tree):>9.1%} {compute / max(compute, ring):>21.1%}")
        n *= 2


def launch(n: int, args: argparse.Namespace) -> dict:
    """Run ``n`` ranks of this script; returns rank 0's measurements."""
    found = Path(sys.executable).parent / "mpirun"
    mpirun = str(found) if found.exists() else shutil.which("mpirun") or "mpirun"
    bind = []
    if args.bind != "none":  # each rank on cores of its own: no migrations, warm caches
        version = subprocess.run([mpirun, "--version"], capture_output=True, text=True)
        bind = (["--bind-to", args.bind] if "Open MPI" in version.stdout
                else ["-bind-to", args.bind])
    cmd = [mpirun, *bind, "-n", str(n), sys.executable, __file__, "--worker",
           "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch-size", str(args.batch_size),
           "--device", args.device, "--jit" if args.jit else "--no-jit",
           "--bucket-mb", str(args.bucket_mb)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1])


def main() -> None:
    """Measure 1 and 2 ranks and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="1,2", help="world sizes to measure")
    parser.add_argument("--steps", type=int, default=10, help="measured steps")
    parser.add_argument("--warmup", type=int, default=3, help="steps before timing")
    parser.add_argument("--batch-size", type=int, default=8, help="sequences per rank")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--bucket-mb", type=float, default=25.0,
                        help="DDP bucket size (PyTorch's default 25 MB: one bucket for the "
                             "demo GPT's 10 MB)")
    parser.add_argument("--bind", default="core", choices=["core", "none"],
                        help="pin each rank to a core (the launcher's -bind-to)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cost-model", default=None, metavar="ALPHA,BETA,FLOPS",
                        help="print only the cost model from measured latency (s), bandwidth "
                             "(bytes/s) and one rank's FLOP/s")
    args = parser.parse_args()
    if args.cost_model:
        alpha, beta, flops = (float(v) for v in args.cost_model.split(","))
        print_cost_model(alpha, beta, flops, args.batch_size)
        return
    if args.worker:
        worker(args)
        return
    print(f"model: demo GPT ({CONFIG.n_layer} layers, width {CONFIG.n_embd}, context "
          f"{CONFIG.block_size}, vocabulary {CONFIG.vocab_size}); batch {args.batch_size} per "
          f"rank; device {args.device}{' + jit' if args.jit else ''}; one thread per rank, "
          f"bound to {args.bind}; "
          f"{os.cpu_count()} cores")
    rows = []
    for n in [int(r) for r in args.ranks.split(",")]:
        before = os.getloadavg()[0]
        result = launch(n, args)
        result["load"] = (before, os.getloadavg()[0])
        rows.append(result)
    single = [r for r in rows if r["ranks"] == 1]  # speed-up against one rank, if measured
    base = single[0]["tokens_per_s"] if single else None
    print(f"\n{'ranks':>5} {'tokens/s':>10} {'s/step':>8} {'speed-up':>9} {'efficiency':>10} "
          f"{'comm wait':>9} {'load before/after':>18}  per rank: CPU s per s; threads; cores")
    for r in rows:
        up = r["tokens_per_s"] / base if base else None
        scaling = f"{up:>8.2f}x {up / r['ranks']:>9.0%}" if up else f"{'-':>9} {'-':>10}"
        print(f"{r['ranks']:>5} {r['tokens_per_s']:>10,.0f} {r['s_per_step']:>8.3f} "
              f"{scaling} {r['wait_share']:>9.0%} "
              f"{r['load'][0]:>8.1f}/{r['load'][1]:<8.1f}  "
              f"{' '.join(f'{c:.2f}' for c in r['cpu_per_wall'])}; {r['threads']}; "
              f"{r['cores_allowed']}")
    for r in rows:
        if r["ranks"] > 1:
            print(f"{r['ranks']} ranks: {r['buckets']} gradient bucket(s) per step; "
                  f"{r['early'][0]} of {r['early'][1]} bucket all-reduces started while "
                  "backward was still running (warm-up included)")
    print("CPU s per s: CPU time of a rank's threads per second of its steps. Above 1.0 a rank "
          "used more than one core (the 1-rank row is then no one-core baseline); below 1.0 it "
          "waited for a core (load).\nCPU s per step, which load changes little (equal rows: "
          "a second rank costs no extra work, no memory-bandwidth or cache limit): "
          + "; ".join(f"{r['ranks']} rank(s) "
                      + " ".join(f"{c * r['s_per_step']:.3f}" for c in r['cpu_per_wall'])
                      for r in rows))
    flops = rows[0]["tokens_per_s"] / rows[0]["ranks"] * flops_per_token(CONFIG)
    measured = [r for r in rows if r.get("alpha")]
    print_cost_model(measured[0]["alpha"] if measured else None,
                     measured[0]["beta"] if measured else None, flops, args.batch_size)


def print_cost_model(alpha: float | None, beta: float | None, flops: float,
                     batch_size: int) -> None:
    """The all-reduce cost tables for the demo GPT and GPT-2 small: with the link and the
    compute rate measured here, then with assumed cluster hardware."""
    scenarios = []
    if alpha is not None and beta is not None:
        scenarios.append((alpha, beta, flops, "measured here (2 ranks, shared memory)"))
    scenarios += [(2e-6, 12e9, flops, "assumed 100 Gb/s InfiniBand, this CPU's compute"),
                  (2e-6, 12e9, 2e14, "assumed 100 Gb/s InfiniBand, 200 TFLOP/s per rank "
                                     "(a GPU)")]
    gpt2 = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
    for a, b, f, label in scenarios:
        cost_table("demo GPT", CONFIG, batch_size * CONFIG.block_size, f, a, b, label)
        cost_table("GPT-2 small", gpt2, 8 * gpt2.block_size, f, a, b, label)


if __name__ == "__main__":
    main()
