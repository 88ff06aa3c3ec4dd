"""``zili.nn.parallel.DistributedDataParallel``: the same model on every rank, gradients
averaged over ranks after each backward (PyTorch's name and behaviour).

At construction the parameters and buffers are broadcast from rank 0, so every rank starts
equal. Parameters are grouped into buckets of about ``bucket_cap_mb`` in the reverse order of
``parameters()`` (roughly the order backward produces their gradients). During backward a
hook on each parameter notices when its gradient is complete; once every gradient of a
bucket is, the bucket is flattened into one host array and its all-reduce is started
without blocking (``MPI_Iallreduce``), so communication overlaps the rest of backward.
:meth:`finish_gradient_sync` (called by the training step before clipping and the
optimizer) waits for the buckets and makes each ``p.grad`` a view of its bucket's averaged
values. Buckets start in the same order on every rank because every rank runs the same
graph.

Under ``zili.jit`` a traced backward has no values to send yet: the training step runs
forward and backward as one compiled plan inside :meth:`no_sync` that returns the
gradients; on a replay the plan reports each gradient as soon as its kernels are done
(:meth:`zili.jit.JitFunction.call`, ``on_result``), so a bucket's all-reduce starts while
the rest of backward runs, as in eager mode (:meth:`jit_gradient_sync`); then
:meth:`average_gradients` waits for the buckets and the optimizer runs as a second plan
(see :mod:`zili.train.step`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

import zili.distributed as dist
from zili.nn.module import Module
from zili.ops.view import View
from zili.tensor import Tensor


class _Bucket:
    """Parameters whose gradients travel in one all-reduce."""

    def __init__(self, params: list[Any]) -> None:
        self.params = params
        self.sizes = [p.numel() for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int).tolist()
        self.numel = self.offsets[-1]
        self.dtype = params[0].dtype
        self.ready = 0
        self.flat: np.ndarray | None = None
        self.work: Any = None


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the initialized process group.

    Raises:
        RuntimeError: ``zili.distributed.init_process_group()`` was not called.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0,
                 broadcast_buffers: bool = True) -> None:
        super().__init__()
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: the default process group is not "
                               "initialized; call zili.distributed.init_process_group() first")
        backend = dist.group()
        if backend.device_collectives is not None:
            # Buckets are flattened into host arrays; a device backend needs them flattened
            # on the device, which is not written yet (nothing here could run it).
            raise NotImplementedError(
                f"DistributedDataParallel: the {backend.name} backend is not supported yet "
                "(its buckets would have to live on the GPU); use backend='mpi', or "
                "zili.distributed.all_reduce on the gradients yourself")
        self.module = module
        self.world_size = dist.get_world_size()
        self._sync = True
        self.comm_wait_seconds = 0.0  # time spent blocked on other ranks (bench/ddp.py)
        # buckets whose all-reduce started while backward was still running, and all buckets
        self.buckets_started_in_backward = self.buckets_sent = 0
        params = [p for p in module.parameters() if p.requires_grad]
        with_buffers = list(module.buffers()) if broadcast_buffers else []
        for t in [*params, *with_buffers]:
            if not t._view.contiguous:  # e.g. a sliced buffer: give it memory of its own
                t.data = t.detach().contiguous()
            dist.broadcast(t, src=0)  # in place, in t's own buffer
        self._buckets = self._make_buckets(params, bucket_cap_mb)
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        self._launched: list[_Bucket] = []
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready)
                         for p in params]

    @staticmethod
    def _make_buckets(params: list[Any], cap_mb: float) -> list[_Bucket]:
        cap = max(1, int(cap_mb * 2**20))
        buckets: list[_Bucket] = []
        current: list[Any] = []
        size = 0
        for p in reversed(params):
            nbytes = p.numel() * p.dtype.itemsize
            if current and (size + nbytes > cap or p.dtype is not current[0].dtype):
                buckets.append(_Bucket(current))
                current, size = [], 0
            current.append(p)
            size += nbytes
        if current:
            buckets.append(_Bucket(current))
        return buckets

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped module's forward."""
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, backward leaves gradients local (no all-reduce), as PyTorch's
        ``no_sync``; average them later with :meth:`average_gradients`."""
        previous, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = previous

    # --- eager: buckets sent from the backward hooks ---------------------------------------

    def _grad_ready(self, p: Any) -> None:
        if not self._sync or self.world_size == 1:
            return
        bucket = self._bucket_of[id(p)]
        bucket.ready += 1
        if bucket.ready == len(bucket.params):
            self._launch(bucket)
            self.buckets_started_in_backward += 1
        for b in self._launched:  # MPI moves a request forward only while it is polled
            if b.work is not None:
                b.work.is_completed()

    def _launch(self, bucket: _Bucket) -> None:
        grads = [p.grad for p in bucket.params]
        bucket.flat = _flatten(grads, bucket)
        bucket.work = dist.group().all_reduce(bucket.flat, dist.ReduceOp.AVG)
        self._launched.append(bucket)
        self.buckets_sent += 1

    def finish_gradient_sync(self) -> None:
        """Start the buckets backward did not complete (parameters without a gradient
        count as zeros), wait for all, and make every ``p.grad`` the rank average (a view
        of its bucket).

        Raises:
            DistributedError: a rank died or stopped answering.
        """
        if self.world_size == 1:
            return
        for bucket in self._buckets:
            if bucket not in self._launched:
                self._launch(bucket)
        for bucket in self._launched:
            self._wait(bucket.work)
            for p, start, size in zip(bucket.params, bucket.offsets, bucket.sizes):
                p.grad = _bucket_view(bucket.flat, start, size, p)
            bucket.ready, bucket.work = 0, None
        self._launched = []

    # --- jit: the gradients a compiled backward returned -----------------------------------

    def jit_gradient_sync(self) -> _JitSync:
        """A per-step helper for a jitted backward returning ``(loss, [gradient of every
        parameter in parameters() order])``: pass its ``result_ready`` as ``on_result`` to
        :meth:`zili.jit.JitFunction.call`, so each bucket's all-reduce starts as soon as the
        plan's kernels finished its gradients (and started ones are polled between later
        kernels); then ``average_gradients(grads, sync)`` waits for them."""
        return _JitSync(self)

    def average_gradients(self, grads: list[Any], sync: _JitSync | None = None) -> list[Any]:
        """The rank averages of ``grads`` (one per parameter, in ``parameters()`` order),
        computed bucket by bucket with non-blocking all-reduces (those ``sync`` started
        during a jitted backward are reused); on host devices each result is a view of its
        bucket's array (no copy back).

        Raises:
            ValueError: the list does not match the parameters.
            DistributedError: a rank died or stopped answering.
        """
        params = [p for p in self.module.parameters() if p.requires_grad]
        if len(grads) != len(params):
            raise ValueError(f"average_gradients: {len(grads)} gradients for {len(params)} "
                             "parameters")
        if self.world_size == 1:
            return list(grads)
        by_param = {id(p): g for p, g in zip(params, grads)}
        started = sync.started if sync is not None else {}
        pending = []
        for bucket in self._buckets:
            if id(bucket) in started:
                pending.append((bucket, *started[id(bucket)]))
                continue
            flat = _flatten([by_param[id(p)] for p in bucket.params], bucket)
            pending.append((bucket, flat, dist.group().all_reduce(flat, dist.ReduceOp.AVG)))
        self.buckets_sent += len(pending)
        self.buckets_started_in_backward += len(started)
        averaged: dict[int, Any] = {}
        for bucket, flat, work in pending:
            self._wait(work)
            for p, start, size in zip(bucket.params, bucket.offsets, bucket.sizes):
                averaged[id(p)] = _bucket_view(flat, start, size, p)
        return [averaged[id(p)] for p in params]

    def mean_over_ranks(self, value: float) -> float:
        """The average of a Python number over ranks (the logged loss)."""
        if self.world_size == 1:
            return value
        box = np.array([value], dtype=np.float64)
        self._wait(dist.group().all_reduce(box, dist.ReduceOp.SUM))
        return float(box[0]) / self.world_size

    def _wait(self, work: Any) -> None:
        start = time.perf_counter()
        work.wait()
        self.comm_wait_seconds += time.perf_counter() - start


class _JitSync:
    """Buckets started from a jitted backward's ``on_result`` reports (one step)."""

    def __init__(self, ddp: DistributedDataParallel) -> None:
        self.ddp = ddp
        self.params = [p for p in ddp.module.parameters() if p.requires_grad]
        self.grads: dict[int, Any] = {}
        self.count: dict[int, int] = {}
        self.started: dict[int, tuple[np.ndarray, Any]] = {}  # id(bucket) -> (flat, work)

    def result_ready(self, k: int, t: Any) -> None:
        """Result k of ``(loss, [grads])`` is final: k >= 1 is parameter k - 1's gradient."""
        if k == 0 or self.ddp.world_size == 1 or k > len(self.params):
            return
        p = self.params[k - 1]
        bucket = self.ddp._bucket_of[id(p)]
        self.grads[id(p)] = t
        self.count[id(bucket)] = self.count.get(id(bucket), 0) + 1
        if self.count[id(bucket)] == len(bucket.params):
            flat = _flatten([self.grads[id(q)] for q in bucket.params], bucket)
            self.started[id(bucket)] = (flat, dist.group().all_reduce(flat, dist.ReduceOp.AVG))
        for _, work in self.started.values():  # MPI moves requests only while polled
            work.is_completed()


def _flatten(grads: list[Any], bucket: _Bucket) -> np.ndarray:
    flat = np.zeros(bucket.numel, dtype=bucket.dtype.numpy)
    for g, start, size in zip(grads, bucket.offsets, bucket.sizes):
        if g is not None:
            array = dist.host_array(g, "DistributedDataParallel") \
                if g._view.contiguous else None
            flat[start:start + size] = (array if array is not None
                                        else g.detach().numpy()).reshape(-1)
    return flat


def _bucket_view(flat: np.ndarray, start: int, size: int, p: Any) -> Tensor:
    """``p``'s slice of a bucket as a tensor: a view of the bucket's array where the device
    keeps its buffers as host arrays, else a copy onto the device."""
    if isinstance(p.buffer, np.ndarray):
        return Tensor._make(flat, View(tuple(p.shape), None, start), p.dtype, p.device)
    values = np.ascontiguousarray(flat[start:start + size].reshape(p.shape))
    return Tensor._make(p.device.from_numpy(values), View(tuple(p.shape)), p.dtype, p.device)
