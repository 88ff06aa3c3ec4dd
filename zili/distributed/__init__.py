"""``zili.distributed``: data-parallel training across processes and machines on MPI
(mpi4py), with PyTorch's names; NCCL plugs in as a backend the CUDA device registers.

Start ranks with the MPI launcher (``mpirun -n 4 python train.py``, ``srun``), then::

    import zili.distributed as dist
    dist.init_process_group()          # rank and world size from the launcher
    dist.all_reduce(t, op=dist.ReduceOp.AVG)

See docs/distributed.md.
"""

from zili.distributed.backend import (
    Backend,
    DistributedError,
    ReduceOp,
    Work,
    register_backend,
    registered_backends,
)
from zili.distributed.process_group import (
    abort,
    all_gather,
    all_reduce,
    barrier,
    broadcast,
    destroy_process_group,
    get_rank,
    get_world_size,
    group,
    host_array,
    init_process_group,
    is_available,
    is_initialized,
    launched_by_mpi,
    reduce_scatter,
)

__all__ = ["Backend", "DistributedError", "ReduceOp", "Work", "abort", "all_gather",
           "all_reduce", "barrier", "broadcast", "destroy_process_group", "get_rank",
           "get_world_size", "group", "host_array", "init_process_group", "is_available",
           "is_initialized", "launched_by_mpi", "reduce_scatter", "register_backend",
           "registered_backends"]
