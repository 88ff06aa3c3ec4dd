"""Run by tests/test_distributed.py under ``mpirun -n 2``: every collective of
zili.distributed on zili tensors against NumPy computed from all ranks' known inputs.
Prints 'collectives ok on rank R' when every check passed (an assertion ends it otherwise)."""

from __future__ import annotations

import sys

import numpy as np

import zili
import zili.distributed as dist


def rank_values(rank: int) -> np.ndarray:
    """What rank ``rank`` contributes: known to every rank, so each can compute the oracle."""
    return np.random.default_rng(rank).standard_normal(6).astype(np.float32)


def main() -> None:
    """Check all_reduce (sum, avg, max), broadcast, all_gather, reduce_scatter, barrier."""
    device = sys.argv[1]
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    every = np.stack([rank_values(r) for r in range(world)])
    for op, want in ((dist.ReduceOp.SUM, every.sum(0)), (dist.ReduceOp.AVG, every.mean(0)),
                     (dist.ReduceOp.MAX, every.max(0))):
        t = zili.tensor(rank_values(rank), device=device)
        before = t.buffer
        assert dist.all_reduce(t, op=op) is None
        assert t.buffer is before  # in place, in the tensor's own buffer
        np.testing.assert_allclose(t.numpy(), want, rtol=1e-6)
    # Zero copy on host devices: the array handed to MPI is the tensor's memory.
    t = zili.tensor(rank_values(rank), device=device)
    assert np.shares_memory(dist.host_array(t, "test"), t.buffer)
    work = dist.all_reduce(t, async_op=True)
    assert work.wait()
    np.testing.assert_allclose(t.numpy(), every.sum(0), rtol=1e-6)
    b = zili.tensor(rank_values(rank), device=device)
    dist.broadcast(b, src=1)
    np.testing.assert_array_equal(b.numpy(), rank_values(1))
    gathered = [zili.zeros(6, device=device) for _ in range(world)]
    dist.all_gather(gathered, zili.tensor(rank_values(rank), device=device))
    for r in range(world):
        np.testing.assert_array_equal(gathered[r].numpy(), rank_values(r))
    parts = [zili.tensor(rank_values(rank) * (c + 1), device=device) for c in range(world)]
    out = zili.zeros(6, device=device)
    dist.reduce_scatter(out, parts)
    np.testing.assert_allclose(out.numpy(), every.sum(0) * (rank + 1), rtol=1e-6)
    try:
        dist.all_reduce(zili.tensor(np.ones((3, 4), np.float32), device=device).t())
    except ValueError as error:
        assert "non-contiguous" in str(error) and "contiguous()" in str(error)
    else:
        raise AssertionError("a non-contiguous view was accepted")
    dist.barrier()
    print(f"collectives ok on rank {rank}", flush=True)


if __name__ == "__main__":
    main()
