"""The ``nccl`` backend: collectives on GPU buffers through CuPy's NCCL bindings.

A device takes part by naming the library that moves its buffers: the ``cuda`` device sets
``collectives = "nccl"`` and keeps its buffers as CuPy arrays on its own stream
(:mod:`zili.devices.cuda`). The process group then hands this backend those arrays (no
copy through the host), and each operation is queued on the device's stream; its
:class:`~zili.distributed.backend.Work` waits on a CUDA event recorded after it.

The ranks find each other as with ``mpi``: the launcher (``mpirun``/``srun``) starts them,
rank 0 makes NCCL's unique id and MPI broadcasts it (mpi4py). One GPU per rank: rank r uses
GPU ``r % (GPUs on the host)`` unless ``CUDA_VISIBLE_DEVICES`` gives each rank its own.

Never run here (no GPU on the machine this was written on); the error paths are tested.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from zili.distributed.backend import Backend, ReduceOp, Work

_NCCL_OPS = {ReduceOp.SUM: "NCCL_SUM", ReduceOp.AVG: "NCCL_SUM", ReduceOp.MAX: "NCCL_MAX",
             ReduceOp.MIN: "NCCL_MIN", ReduceOp.PRODUCT: "NCCL_PROD"}
_NCCL_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32",
               "float64": "NCCL_FLOAT64", "int32": "NCCL_INT32", "int64": "NCCL_INT64"}


def nccl_problem() -> str | None:
    """Why the nccl backend cannot be used here (None when CuPy's NCCL bindings load)."""
    if importlib.util.find_spec("cupy") is None:
        return ("the nccl backend needs CuPy with NCCL on a machine with NVIDIA GPUs: "
                "pip install 'zili[cuda]' (CuPy) and NCCL (pip install nvidia-nccl-cu13); "
                "on CPUs use backend='mpi'")
    try:
        nccl = importlib.import_module("cupy.cuda.nccl")
    except ImportError as error:  # CuPy built without NCCL
        return f"CuPy is installed but its NCCL bindings do not load ({error}); install NCCL"
    if not getattr(nccl, "available", True):
        return "CuPy is installed but NCCL is not available to it; install nvidia-nccl-cu13"
    return None


class NCCLWork(Work):
    """An operation queued on the device stream; done when its event is."""

    def __init__(self, event: Any) -> None:
        self.event, self.done = event, False

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the GPU finished the operation (NCCL reports dead peers itself)."""
        if not self.done:
            self.event.synchronize()
            self.done = True
        return True

    def is_completed(self) -> bool:
        """True once the GPU passed the event."""
        self.done = self.done or bool(self.event.done)
        return self.done


class NCCLBackend(Backend):
    """Collectives among one GPU per rank over NCCL; arrays are CuPy arrays."""

    name = "nccl"
    dtypes = tuple(_NCCL_TYPES)
    device_collectives = "nccl"  # the process group passes device buffers, not host copies

    def __init__(self, timeout: float | None = None, comm: Any = None) -> None:
        """Join the job: MPI tells the rank, NCCL gets its id through MPI.

        Raises:
            ImportError: CuPy, its NCCL bindings, or mpi4py are missing (the message says
                what to install).
        """
        problem = nccl_problem()
        if problem is not None:
            raise ImportError(f"init_process_group('nccl'): {problem}")
        self.cupy = importlib.import_module("cupy")
        self.nccl = importlib.import_module("cupy.cuda.nccl")
        try:
            mpi = importlib.import_module("mpi4py.MPI")
        except ImportError as error:
            raise ImportError("init_process_group('nccl'): the ranks find each other "
                              "through MPI: pip install mpi4py mpich") from error
        self.comm = comm if comm is not None else mpi.COMM_WORLD
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()
        gpus = self.cupy.cuda.runtime.getDeviceCount()
        self.cupy.cuda.Device(self.rank % max(gpus, 1)).use()
        uid = self.comm.bcast(self.nccl.get_unique_id() if self.rank == 0 else None, root=0)
        self.nccl_comm = self.nccl.NcclCommunicator(self.world_size, uid, self.rank)
        self.stream = self.cupy.cuda.get_current_stream()

    def empty(self, shape: tuple[int, ...], like: Any) -> Any:
        """A new GPU array."""
        return self.cupy.empty(shape, dtype=like.dtype)

    def stack(self, arrays: list[Any]) -> Any:
        """The arrays stacked on the GPU."""
        return self.cupy.ascontiguousarray(self.cupy.stack(arrays))

    def use_stream(self, stream: Any) -> None:
        """Queue the collectives on ``stream`` (the device's own, so they follow its kernels)."""
        self.stream = stream

    def _queue(self) -> NCCLWork:
        event = self.cupy.cuda.Event(block=False, disable_timing=True)
        event.record(self.stream)
        return NCCLWork(event)

    def _type(self, array: Any) -> int:
        return getattr(self.nccl, _NCCL_TYPES[str(array.dtype)])

    def _average(self, array: Any, op: ReduceOp) -> None:
        """AVG: divide the SUM by the world size, queued on the stream behind it."""
        if op is ReduceOp.AVG:
            with self.stream:
                if array.dtype.kind == "f":
                    self.cupy.divide(array, self.world_size, out=array)
                else:
                    self.cupy.floor_divide(array, self.world_size, out=array)

    def all_reduce(self, array: Any, op: ReduceOp) -> Work:
        """ncclAllReduce in place; AVG divides by the world size afterwards."""
        self.nccl_comm.allReduce(array.data.ptr, array.data.ptr, array.size, self._type(array),
                                 getattr(self.nccl, _NCCL_OPS[op]), self.stream.ptr)
        self._average(array, op)
        return self._queue()

    def broadcast(self, array: Any, src: int) -> Work:
        """ncclBroadcast from ``src`` in place."""
        self.nccl_comm.broadcast(array.data.ptr, array.data.ptr, array.size, self._type(array),
                                 src, self.stream.ptr)
        return self._queue()

    def all_gather(self, out: Any, array: Any) -> Work:
        """ncclAllGather into ``out``."""
        self.nccl_comm.allGather(array.data.ptr, out.data.ptr, array.size, self._type(array),
                                 self.stream.ptr)
        return self._queue()

    def reduce_scatter(self, out: Any, array: Any, op: ReduceOp) -> Work:
        """ncclReduceScatter into ``out``; AVG divides by the world size afterwards."""
        self.nccl_comm.reduceScatter(array.data.ptr, out.data.ptr, out.size, self._type(array),
                                     getattr(self.nccl, _NCCL_OPS[op]), self.stream.ptr)
        self._average(out, op)
        return self._queue()

    def barrier(self) -> Work:
        """An all-reduce of one value (NCCL has no barrier), then the MPI barrier."""
        one = self.cupy.zeros(1, self.cupy.float32)
        work = self.all_reduce(one, ReduceOp.SUM)
        work.wait()
        self.comm.Barrier()
        return work

    def abort(self, code: int = 1) -> None:
        """Abort NCCL's communicator, then the MPI job."""
        self.nccl_comm.abort()
        self.comm.Abort(code)

    def close(self) -> None:
        """Release the NCCL communicator."""
        self.nccl_comm.destroy()
