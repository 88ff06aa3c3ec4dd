"""The contract a communication backend fulfils, and the registry of backends.

A backend moves whole, contiguous arrays: the process group hands it host arrays (NumPy,
sharing memory with the tensors on host devices) or, for a device backend such as NCCL,
the device's own buffers. Every operation returns a :class:`Work` whose ``wait()`` blocks
until the result is in place; blocking calls are ``op(...).wait()``.

``mpi`` (mpi4py) and ``nccl`` (CuPy's NCCL bindings, :mod:`zili.distributed.nccl`) are
built in. A device takes part in a device backend by naming it in its ``collectives``
attribute (the ``cuda`` device says ``"nccl"``); another vendor library (HCCL, RCCL) plugs
in with :func:`register_backend` and a device that names it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import numpy as np


class ReduceOp(enum.Enum):
    """How :func:`zili.distributed.all_reduce` combines the ranks' values (PyTorch's names)."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


class DistributedError(RuntimeError):
    """A rank died, stopped answering, or a collective failed; the message names the rank."""


class Work:
    """A pending collective: ``wait()`` blocks until it finished, ``is_completed()`` polls."""

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the operation finished; returns True.

        Raises:
            DistributedError: a peer died or did not answer within the timeout.
        """
        raise NotImplementedError

    def is_completed(self) -> bool:
        """True once the result is in place (drives the transfer forward on MPI)."""
        raise NotImplementedError


class Backend:
    """One process group's transport. Arrays are contiguous and of one of
    :attr:`dtypes`; outputs are written in place."""

    name = "?"
    dtypes: tuple[str, ...] = ("float32", "float64", "int32", "int64")

    rank: int
    world_size: int

    def all_reduce(self, array: Any, op: ReduceOp) -> Work:
        """Combine ``array`` over ranks in place (AVG divides the SUM by the world size)."""
        raise NotImplementedError

    def broadcast(self, array: Any, src: int) -> Work:
        """Copy rank ``src``'s ``array`` into every rank's ``array``."""
        raise NotImplementedError

    def all_gather(self, out: Any, array: Any) -> Work:
        """``out`` (world_size * len(array) elements) gets every rank's array in rank order."""
        raise NotImplementedError

    def reduce_scatter(self, out: Any, array: Any, op: ReduceOp) -> Work:
        """``out`` gets this rank's chunk of the reduction of ``array`` over ranks."""
        raise NotImplementedError

    def barrier(self) -> Work:
        """Wait for every rank."""
        raise NotImplementedError

    def abort(self, code: int = 1) -> None:
        """Stop every rank of the job (after a fault)."""
        raise NotImplementedError

    # A device backend (NCCL) names the device collectives it serves (a device's
    # ``collectives``) and is handed the device's own buffers; host backends get NumPy.
    device_collectives: str | None = None

    def empty(self, shape: tuple[int, ...], like: Any) -> Any:
        """A new array of ``shape`` and ``like``'s dtype where this backend's arrays live."""
        return np.empty(shape, dtype=like.dtype)

    def stack(self, arrays: list[Any]) -> Any:
        """One contiguous array holding ``arrays`` in order (reduce_scatter's input)."""
        return np.ascontiguousarray(np.stack(arrays))

    def close(self) -> None:
        """Release the transport."""


_BACKENDS: dict[str, Callable[..., Backend]] = {}


def register_backend(name: str, factory: Callable[..., Backend]) -> None:
    """Make ``init_process_group(backend=name)`` build its transport with ``factory(**kw)``
    (a vendor library's backend, e.g. HCCL, plugs in this way)."""
    _BACKENDS[name] = factory


def backend_factory(name: str) -> Callable[..., Backend]:
    """The registered factory for ``name``.

    Raises:
        ValueError: nothing registered under ``name`` (the message says who fills it).
    """
    if name not in _BACKENDS:
        hint = (" NCCL serves the cuda device (zili.devices.cuda) through CuPy;"
                " on CPUs use backend='mpi'" if name == "nccl" else "")
        raise ValueError(f"init_process_group: no backend {name!r} (registered: "
                         f"{sorted(_BACKENDS)}).{hint}")
    return _BACKENDS[name]


def registered_backends() -> list[str]:
    """Names of the backends that can be used now."""
    return sorted(_BACKENDS)

