"""PyTorch's ``torch.distributed`` names on zili tensors: one process group per process.

Tensors on a host device (``cpu``, ``numpy``) are handed to the backend as NumPy arrays
that share their memory, so nothing is copied; results are written into the tensors in
place, as PyTorch does. With a device backend (``nccl``) the tensors' own device buffers
are handed over (their device must name that backend in ``collectives``). Tensors on other
devices go through host memory (one line says so, once).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from zili.distributed import mpi, nccl
from zili.distributed.backend import (
    Backend,
    DistributedError,
    ReduceOp,
    Work,
    backend_factory,
    register_backend,
)
from zili.ops.view import View
from zili.tensor import Tensor

register_backend("mpi", mpi.MPIBackend)
register_backend("nccl", nccl.NCCLBackend)  # raises a clear ImportError without CuPy/NCCL

_GROUP: Backend | None = None
_STAGED_NOTICE: set[str] = set()


class _Then(Work):
    """A backend Work followed by a copy back into a tensor (staged through the host)."""

    def __init__(self, work: Work, after: Any) -> None:
        self.work, self.after, self.done = work, after, False

    def wait(self, timeout: float | None = None) -> bool:
        self.work.wait(timeout)
        if not self.done:
            self.done = True
            self.after()
        return True

    def is_completed(self) -> bool:
        if self.work.is_completed():
            self.wait()
        return self.done


def init_process_group(backend: str = "mpi", *, timeout: float | None = None,
                       **options: Any) -> None:
    """Join the job's process group: rank and world size come from the launcher
    (``mpirun``/``mpiexec``/``srun``) through MPI; a process started alone is a group of one.

    Raises:
        RuntimeError: a group is already initialized in this process.
        ValueError: an unknown backend.
        ImportError: the backend's library is missing (the message says what to install).
    """
    global _GROUP
    if _GROUP is not None:
        raise RuntimeError("init_process_group: already initialized; call "
                           "destroy_process_group() first")
    _GROUP = backend_factory(backend)(timeout=timeout, **options)


def is_initialized() -> bool:
    """True after :func:`init_process_group`."""
    return _GROUP is not None


def is_available() -> bool:
    """True when the mpi backend can be used (mpi4py imports)."""
    return mpi.available()


def launched_by_mpi() -> bool:
    """True when a launcher started this process as one of several ranks."""
    found = mpi.mpi_environment()
    return found is not None and found[1] > 1


def group() -> Backend:
    """The process group's backend.

    Raises:
        RuntimeError: no group yet.
    """
    if _GROUP is None:
        raise RuntimeError("zili.distributed: call init_process_group() first")
    return _GROUP


def destroy_process_group() -> None:
    """Leave the group (a later :func:`init_process_group` may join again)."""
    global _GROUP
    if _GROUP is not None:
        _GROUP.close()
    _GROUP = None


def get_rank() -> int:
    """This process's rank (0 when no group is initialized)."""
    return _GROUP.rank if _GROUP is not None else 0


def get_world_size() -> int:
    """The number of ranks (1 when no group is initialized)."""
    return _GROUP.world_size if _GROUP is not None else 1


def abort(message: str, code: int = 1) -> None:
    """Print ``message`` on stderr and stop every rank of the job."""
    print(message, file=sys.stderr, flush=True)
    if _GROUP is not None:
        _GROUP.abort(code)
    raise SystemExit(code)


def host_array(t: Tensor, what: str) -> np.ndarray | None:
    """The NumPy array that shares ``t``'s memory (a host device, contiguous), or None
    when the tensor lives elsewhere.

    A tensor made by ``zeros``/``ones``/``full`` (one value broadcast, stride 0) first gets
    a buffer of its own.

    Raises:
        ValueError: a non-contiguous view (collectives write whole buffers).
        TypeError: a dtype the backend cannot reduce.
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"{what}: expected a zili Tensor, got {type(t).__name__}")
    backend = group()
    if t.dtype.name not in backend.dtypes:
        raise TypeError(f"{what}: dtype {t.dtype.name} is not supported by the "
                        f"{backend.name} backend (supported: {', '.join(backend.dtypes)}); "
                        "cast with .to(zili.float32) first")
    if not t._view.contiguous and _is_filled_constant(t):
        # zeros()/ones()/full() are one value broadcast over the shape (stride 0), not memory
        # of their own: give the tensor a real buffer, as PyTorch's factories have.
        contiguous = t.detach().contiguous()
        t.buffer, t._view = contiguous.buffer, contiguous._view
    if not t._view.contiguous:
        raise ValueError(f"{what}: the tensor of shape {t.shape} is a non-contiguous view; "
                         "call .contiguous() first")
    if isinstance(t.buffer, np.ndarray):
        start = t._view.offset
        return t.buffer[start:start + t.numel()].reshape(t.shape)
    return None


def _is_filled_constant(t: Tensor) -> bool:
    """True for a tensor that is one stored value broadcast over its shape (all strides 0)."""
    view = t._view
    return view.mask is None and all(st == 0 for st in view.strides)


def _staged(t: Tensor, what: str) -> tuple[np.ndarray, Any]:
    """A host copy of ``t`` and a function that writes it back (non-host devices)."""
    if t.device.name not in _STAGED_NOTICE:
        _STAGED_NOTICE.add(t.device.name)
        print(f"zili.distributed: device {t.device.name} shares no memory with the host; "
              "collectives copy through host memory", file=sys.stderr)
    array = np.ascontiguousarray(t.detach().numpy())

    def write_back() -> None:
        t.buffer = t.device.from_numpy(array)
        t._view = View(t.shape)
    return array, write_back


def device_array(t: Tensor, backend: Backend, what: str) -> Any:
    """The device array sharing ``t``'s memory, for a device backend (NCCL on cuda).

    Raises:
        TypeError: ``t``'s device is not served by the backend, or a dtype it cannot move.
        ValueError: a non-contiguous view.
    """
    if t.device.collectives != backend.device_collectives:
        raise TypeError(f"{what}: the {backend.name} backend moves buffers of devices whose "
                        f"collectives are {backend.device_collectives!r}; this tensor is on "
                        f"{t.device.name}. Move it with .to('cuda') or use backend='mpi'")
    if t.dtype.name not in backend.dtypes:
        raise TypeError(f"{what}: dtype {t.dtype.name} is not supported by the "
                        f"{backend.name} backend (supported: {', '.join(backend.dtypes)})")
    if not t._view.contiguous:
        contiguous = t.detach().contiguous()
        if _is_filled_constant(t):
            t.buffer, t._view = contiguous.buffer, contiguous._view
        else:
            raise ValueError(f"{what}: the tensor of shape {t.shape} is a non-contiguous view; "
                             "call .contiguous() first")
    stream = getattr(t.device, "stream", None)
    if stream is not None and hasattr(backend, "use_stream"):
        backend.use_stream(stream)  # queue behind the device's own kernels
    start = t._view.offset
    return t.buffer[start:start + t.numel()].reshape(t.shape)


def _array(t: Tensor, what: str) -> tuple[Any, Any]:
    backend = group()
    if backend.device_collectives is not None:
        return device_array(t, backend, what), None
    array = host_array(t, what)
    return (array, None) if array is not None else _staged(t, what)


def _finish(work: Work, after: Any, async_op: bool) -> Work | None:
    work = _Then(work, after) if after is not None else work
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Combine ``tensor`` over ranks in place (SUM, AVG, MAX, MIN, PRODUCT); with
    ``async_op`` return a Work to ``wait()`` on.

    Raises:
        DistributedError: a rank died or stopped answering (the message names it).
    """
    array, after = _array(tensor, "all_reduce")
    return _finish(_group_of(group).all_reduce(array, ReduceOp(op)), after, async_op)


def broadcast(tensor: Tensor, src: int = 0, group: Any = None,
              async_op: bool = False) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor`` in place.

    Raises:
        ValueError: ``src`` is not a rank of the group.
    """
    g = _group_of(group)
    if not 0 <= src < g.world_size:
        raise ValueError(f"broadcast: src={src} is not a rank (world size {g.world_size})")
    array, after = _array(tensor, "broadcast")
    return _finish(g.broadcast(array, src), after, async_op)


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` (PyTorch's argument order).

    Raises:
        ValueError: the list's length is not the world size, or shapes/dtypes differ.
    """
    g = _group_of(group)
    _same_parts("all_gather", tensor_list, tensor, g.world_size)
    array, _ = _array(tensor, "all_gather")
    out = g.empty((g.world_size, *array.shape), array)

    def scatter_back() -> None:
        for r, t in enumerate(tensor_list):
            _write(t, out[r], "all_gather")
    return _finish(g.all_gather(out, array), scatter_back, async_op)


def reduce_scatter(output: Tensor, input_list: list[Tensor], op: ReduceOp = ReduceOp.SUM,
                   group: Any = None, async_op: bool = False) -> Work | None:
    """``output`` gets the reduction over ranks of every rank's ``input_list[rank]``.

    Raises:
        ValueError: the list's length is not the world size, or shapes/dtypes differ.
    """
    g = _group_of(group)
    _same_parts("reduce_scatter", input_list, output, g.world_size)
    if g.device_collectives is not None:
        send = g.stack([device_array(t.detach().contiguous(), g, "reduce_scatter")
                        for t in input_list])
    else:
        send = g.stack([t.detach().numpy() for t in input_list])
    array, after = _array(output, "reduce_scatter")
    return _finish(g.reduce_scatter(array, send, ReduceOp(op)), after, async_op)


def barrier(group: Any = None, async_op: bool = False) -> Work | None:
    """Wait until every rank reached the barrier."""
    return _finish(_group_of(group).barrier(), None, async_op)


def _group_of(g: Any) -> Backend:
    return g if isinstance(g, Backend) else group()


def _same_parts(what: str, parts: list[Tensor], like: Tensor, world: int) -> None:
    if len(parts) != world:
        raise ValueError(f"{what}: the list holds {len(parts)} tensors; it needs one per rank "
                         f"({world})")
    for t in parts:
        if t.shape != like.shape or t.dtype is not like.dtype:
            raise ValueError(f"{what}: every tensor must have shape {like.shape} and dtype "
                             f"{like.dtype.name}; got {t.shape} {t.dtype.name}")


def _write(t: Tensor, values: Any, what: str) -> None:
    backend = group()
    if backend.device_collectives is not None:
        device_array(t, backend, what)[...] = values
        return
    array = host_array(t, what)
    if array is not None:
        array[...] = values
    else:
        t.buffer = t.device.from_numpy(np.ascontiguousarray(values))
        t._view = View(t.shape)


__all__ = ["DistributedError", "ReduceOp", "Work", "abort", "all_gather", "all_reduce",
           "barrier", "broadcast", "destroy_process_group", "get_rank", "get_world_size",
           "group", "host_array", "init_process_group", "is_available", "is_initialized",
           "launched_by_mpi", "reduce_scatter"]
