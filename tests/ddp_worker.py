"""Run by tests/test_distributed.py under ``mpirun``: 10 AdamW steps of a tiny GPT, data
parallel over the launched ranks, eager and with jit; every rank writes its losses and final
parameters to an .npz file. Each rank trains on its rows of the same global batches."""

from __future__ import annotations

import sys

import numpy as np

import zili
import zili.distributed as dist
from zili.models.gpt import GPT, GPTConfig
from zili.nn.parallel import DistributedDataParallel
from zili.train import TrainSettings, batch_tensors, make_optimizer, make_train_step

CONFIG = GPTConfig(vocab_size=97, block_size=16, n_layer=1, n_head=2, n_embd=32)
SETTINGS = TrainSettings(lr=1e-2, warmup=0, steps=10)
GLOBAL_BATCH = 4
STEPS = 10


def global_batches() -> list[tuple[np.ndarray, np.ndarray]]:
    """The same 10 global batches on every rank and in the single-process reference."""
    rng = np.random.default_rng(11)
    return [(rng.integers(0, CONFIG.vocab_size, (GLOBAL_BATCH, CONFIG.block_size)),
             rng.integers(0, CONFIG.vocab_size, (GLOBAL_BATCH, CONFIG.block_size)))
            for _ in range(STEPS)]


STATS: dict[str, np.ndarray] = {}


def train(use_jit: bool, device: str, rank: int, world: int) -> tuple[list[float], dict]:
    """Losses and final parameters of 10 steps (data parallel when world > 1)."""
    zili.manual_seed(rank * 1000 + 3)  # different init per rank: DDP must broadcast rank 0's
    # float64: in float32 the key bias's gradient (exactly zero in exact arithmetic: softmax
    # ignores a shift of the keys) is rounding noise that Adam scales up to lr-sized steps,
    # so any change of summation order moves it by 1e-4; in float64 the noise stays far below
    # Adam's eps and the comparison measures data parallelism itself.
    model = GPT(CONFIG).to(device).double()
    optimizer = make_optimizer(model, SETTINGS)
    wrapped = DistributedDataParallel(model, bucket_cap_mb=0.02) if world > 1 else model
    step = make_train_step(wrapped, optimizer, SETTINGS.grad_clip, use_jit)
    per_rank = GLOBAL_BATCH // world
    losses = []
    for x, y in global_batches():
        rows = slice(rank * per_rank, (rank + 1) * per_rank)
        losses.append(step(*batch_tensors(x[rows], y[rows], zili.get_device(device)),
                           SETTINGS.lr))
    if world > 1:  # how many gradient buckets started while backward still ran
        STATS[f"{'jit' if use_jit else 'eager'}/early"] = np.array(
            [wrapped.buckets_started_in_backward, wrapped.buckets_sent])
    return losses, {k: v.numpy().copy() for k, v in model.state_dict().items()}


def main() -> None:
    """mpirun -n N python tests/ddp_worker.py OUT DEVICE: writes OUT.rank<r>.npz per rank."""
    out, device = sys.argv[1], sys.argv[2]
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    result = {}
    for use_jit in (False, True):
        losses, params = train(use_jit, device, rank, world)
        tag = "jit" if use_jit else "eager"
        result[f"{tag}/losses"] = np.array(losses)
        result.update({f"{tag}/{k}": v for k, v in params.items()})
    np.savez(f"{out}.rank{rank}.npz", **result, **STATS)
    dist.barrier()


if __name__ == "__main__":
    main()
