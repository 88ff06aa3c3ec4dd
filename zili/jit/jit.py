"""``zili.jit``: trace a function once, fuse its primitives into few kernels, replay them.

Call 1 runs the function eagerly (it creates optimizer state and anything else made on first
use). Call 2 *traces*: every primitive is recorded into a graph instead of running
(:mod:`zili.compiler.capture`), then the graph is scheduled into kernels, compiled in static
mode (sizes baked in, so loops vectorize) and run. Later calls with the same argument
signature (shapes, dtypes, views of tensor arguments and the values of the others) *replay*
the kernels without running Python: tensor arguments are bound by position, tensors that
existed before the trace (parameters, optimizer state, captured through closures) are read
from the objects that hold them now, memory the function wrote in place (``add_``,
``x[i] = v``, through any view) gets its final contents copied back after each replay
(:meth:`Tracer.assign`), and tensors the function rebound (``p.data = ...``, ``.grad``) are
rebound to the new results, so parameter updates stay correct across replays. A call with a
new signature traces again; at most :data:`MAX_TRACES` traces are kept (least recently used
dropped).

Python numbers computed inside the function are constants of the trace; keep changing state
(step counts, scheduled learning rates) in tensors that are updated in place. Reading a value
inside the function (``.item()``, ``.numpy()``) cannot be replayed and raises.
"""

from __future__ import annotations

import functools
import gc
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from zili.compiler import capture
from zili.compiler.lower import Node
from zili.compiler.runtime import Launchable, random_base
from zili.compiler.schedule import Step
from zili.devices.numpy import read
from zili.dtype import bool_, int64
from zili.ops import Op
from zili.ops.view import View
from zili.tensor.tensor import Tensor

MAX_TRACES = 8


class Tracer:
    """Records primitives as graph nodes while a function is traced."""

    def __init__(self) -> None:
        self.leaves: dict[int, Node] = {}  # id(real buffer) -> leaf
        self.constants: dict[int, Any] = {}  # buffers created while tracing
        self.devices: list[Any] = []
        self.tensor_type: Any = None
        self.randoms: list[Node] = []
        # id(storage) -> (storage, real buffer, its leaf): memory the function wrote in place
        self.written: dict[int, tuple[Any, Any, Node]] = {}

    def leaf(self, buffer: Any, view: View, dtype: Any) -> Node:
        """The leaf node for a real buffer (one per buffer)."""
        node = self.leaves.get(id(buffer))
        if node is None:
            node = self.leaves[id(buffer)] = Node(None, (len(buffer),), dtype, buffer=buffer)
        return node

    def record(self, op: Any, shape: tuple[int, ...], dtype: Any, inputs: Any, arg: Any,
               device: Any, tensor_type: Any) -> Any:
        """Add one primitive to the graph and return a tensor whose buffer is its node."""
        device = device or inputs[0].device
        self.tensor_type = tensor_type
        if device not in self.devices:
            self._watch(device)
        srcs = []
        for t in inputs:
            if t.device is not device:
                raise RuntimeError(f"{op.value}: tensors are on different devices "
                                   f"({[x.device.name for x in inputs]}); move them with .to()")
            src = t.buffer if isinstance(t.buffer, Node) else self.leaf(t.buffer, t._view,
                                                                          t.dtype)
            srcs.append((src, t._view, t.dtype))
        node = Node(op, shape, dtype, tuple(srcs), arg)
        if op.value == "random":
            self.randoms.append(node)
        return tensor_type._make(node, View(shape), dtype, device)

    def assign(self, target: Any, value: Any) -> None:
        """Record an in-place write of ``value`` into ``target``'s memory.

        The write is recorded as a value: the storage's buffer becomes a new node holding
        the whole buffer after the write (the value itself when the target covers the
        buffer; else a GATHER of the value at the written positions, selected by WHERE), so
        every tensor sharing the storage reads the new contents from then on and the
        scheduler needs no write-after-read ordering. Memory that existed before the trace
        gets the final contents copied back at the end of every replay (``Plan.writeback``).
        """
        storage = target._storage
        old = storage.buffer
        dtype, device, tensor_type = target.dtype, target.device, type(target)
        if not isinstance(old, Node):
            leaf = self.leaf(old, target._view, dtype)
            # Borrowed memory (a flip/pad result, a copy in PyTorch) is not written back.
            if id(old) not in self.constants and storage.lender is None:
                self.written.setdefault(id(storage), (storage, old, leaf))
            old = leaf
        storage.lender = None
        count = _numel(old.shape)
        view = target._view
        if view.contiguous and view.offset == 0 and view.numel == count:
            flat = _flat(value, tensor_type, self)
            new = self.record(Op.COPY, (count,), dtype, [flat], None, device, tensor_type)
        else:
            positions = read(np.arange(count, dtype=np.int64), view).reshape(-1)
            hit = np.zeros(count, np.bool_)
            hit[positions] = True
            inverse = np.zeros(count, np.int64)
            inverse[positions] = np.arange(positions.size, dtype=np.int64)
            hit_t = tensor_type._make(device.from_numpy(hit), View((count,)), bool_, device)
            inverse_t = tensor_type._make(device.from_numpy(inverse), View((count,)), int64,
                                          device)
            picked = self.record(Op.GATHER, (count,), dtype,
                                 [_flat(value, tensor_type, self), inverse_t], 0, device,
                                 tensor_type)
            before = tensor_type._make(old, View((count,)), dtype, device)
            new = self.record(Op.WHERE, (count,), dtype, [hit_t, picked, before], None, device,
                              tensor_type)
        storage.buffer = new.buffer

    def _watch(self, device: Any) -> None:
        # While tracing, buffers the device makes are constants of the trace, and reading a
        # traced value back to the host is an error (it cannot be replayed).
        self.devices.append(device)
        cls = type(device)

        def from_numpy(array: Any) -> Any:
            buffer = cls.from_numpy(device, array)
            self.constants[id(buffer)] = buffer
            return buffer

        def to_numpy(buffer: Any, view: View, dtype: Any) -> Any:
            if isinstance(buffer, Node):
                raise RuntimeError("zili.jit: a traced function cannot read tensor values "
                                   "(.item(), .numpy(), printing); return the tensor instead "
                                   "and read it after the call")
            return cls.to_numpy(device, buffer, view, dtype)

        device.from_numpy, device.to_numpy = from_numpy, to_numpy

    def unwatch(self) -> None:
        """Give the devices their own methods back."""
        for device in self.devices:
            del device.from_numpy, device.to_numpy


def _flat(value: Any, tensor_type: Any, tracer: Tracer) -> Any:
    """``value`` as a 1-D tensor over its node (a COPY first when no view can say it)."""
    count = _numel(value.shape)
    view = value._view.reshape((count,))
    if view is None:
        value = tracer.record(Op.COPY, value.shape, value.dtype, [value], None, value.device,
                              tensor_type)
        view = View((count,))
    return value._share(view, None, value._vc)


def _flatten(value: Any, tensor_type: Any, out: list, sig: list) -> None:
    if tensor_type is not None and isinstance(value, tensor_type):
        out.append(value)
        sig.append(("T", value.shape, value.dtype.name, value._view.key(), value.device.name,
                     value.requires_grad))
    elif isinstance(value, (list, tuple)):
        sig.append((type(value).__name__, len(value)))
        for v in value:
            _flatten(v, tensor_type, out, sig)
    elif isinstance(value, dict):
        sig.append(("dict", tuple(value)))
        for v in value.values():
            _flatten(v, tensor_type, out, sig)
    else:
        try:
            hash(value)
            sig.append(value)
        except TypeError:
            sig.append(("id", id(value)))


def _rebuild(value: Any, tensor_type: Any, tensors: list) -> Any:
    if tensor_type is not None and isinstance(value, tensor_type):
        return tensors.pop(0)
    if isinstance(value, (list, tuple)):
        return type(value)(_rebuild(v, tensor_type, tensors) for v in value)
    if isinstance(value, dict):
        return {k: _rebuild(v, tensor_type, tensors) for k, v in value.items()}
    return value


class Plan:
    """A compiled trace: kernels, where every buffer comes from, and what to rebind."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.slots: dict[int, int] = {}  # id(node) -> buffer slot
        self.args: list[tuple[int, int]] = []  # (slot, argument position)
        self.state: list[tuple[int, Any, Any]] = []  # (slot, weakref holder, view key)
        self.consts: list[tuple[int, Any]] = []
        self.outs: list[tuple[int, Node]] = []  # escaping nodes: fresh buffer each call
        self.internal: list[tuple[int, Any]] = []  # reused between calls
        self.rebind: list[tuple[Any, int]] = []  # (weakref storage, slot)
        # (slot of memory from before the trace, slot of its contents after the call, count)
        self.writeback: list[tuple[int, int, int, Any]] = []
        self.grads: list[tuple[Any, int, View, Any]] = []  # (weakref owner, slot, view, dtype)
        self.results: list[tuple[int, View, Any]] = []  # returned tensors
        self.structure: Any = None
        self.device: Any = None

    @property
    def kernel_count(self) -> int:
        """Kernels one replay launches (library MATMUL calls included)."""
        return len(self.steps)

    def describe(self) -> list[str]:
        """One line per kernel: name, shape and stages (what was fused)."""
        return [s.kernel.describe() if s.kernel else
                f"{s.kind} {s.nodes[0].op.value} {s.nodes[0].shape}" for s in self.steps]


class JitFunction:
    """The callable ``zili.jit`` returns; see the module docstring."""

    def __init__(self, fn: Callable[..., Any]):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.plans: OrderedDict[tuple, Plan] = OrderedDict()
        self.calls = 0
        self.traces = 0
        self._on_result: Any = None

    @property
    def plan(self) -> Plan | None:
        """The most recently used plan (None before the first trace)."""
        return next(reversed(self.plans.values())) if self.plans else None

    def call(self, *args: Any, on_result: Callable[[int, Any], None] | None = None,
             **kwargs: Any) -> Any:
        """Call as usual; on a replay also call ``on_result(k, tensor)`` as soon as the
        plan's kernels have finished the k-th returned tensor (in the order the function
        returns them, flattened), while later kernels are still to run. Data parallelism
        starts a gradient bucket's all-reduce this way while backward goes on. The eager
        first call and the tracing call report nothing."""
        self._on_result = on_result
        try:
            return self(*args, **kwargs)
        finally:
            self._on_result = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if capture.TRACING:  # nested jit: just trace through
            return self.fn(*args, **kwargs)
        tensors: list[Any] = []
        sig: list[Any] = []
        tensor_type = _tensor_type(args, kwargs)
        _flatten((args, kwargs), tensor_type, tensors, sig)
        key = tuple(sig)
        plan = self.plans.get(key)
        if plan is not None:
            self.plans.move_to_end(key)
            result = _replay(plan, tensors, self._on_result)
            if result is not _STALE:
                return result
            del self.plans[key]
        if self.calls == 1:
            return self.fn(*args, **kwargs)
        plan, result = self._trace(args, kwargs, tensors)
        self.plans[key] = plan
        while len(self.plans) > MAX_TRACES:
            self.plans.popitem(last=False)
        return result

    def _trace(self, args: tuple, kwargs: dict, tensors: list) -> tuple[Plan, Any]:
        from zili.jit.build import build_plan
        self.traces += 1
        before = _live_tensors()
        tracer = Tracer()
        capture.TRACING.append(tracer)
        try:
            result = self.fn(*args, **kwargs)
        finally:
            capture.TRACING.pop()
            tracer.unwatch()
        return build_plan(tracer, before, tensors, result)


_STALE = object()


def _tensor_type(args: tuple, kwargs: dict) -> Any:
    return Tensor


def _live_tensors() -> dict[int, list[tuple[Any, Any]]]:
    """id(buffer) -> [(holder, view key)] for every live tensor: a weak reference to the
    tensor, and a (dict, key) pair for every dict entry holding it (optimizer state that the
    function may replace rather than update in place)."""
    tensor_type = Tensor
    out: dict[int, list[tuple[Any, Any]]] = {}
    if tensor_type is None:
        return out
    for obj in gc.get_objects():
        if issubclass(type(obj), tensor_type) and not isinstance(obj.buffer, Node):
            out.setdefault(id(obj.buffer), []).append((weakref.ref(obj), obj._view.key()))
        elif type(obj) is dict:
            for k, v in list(obj.items()):
                if issubclass(type(v), tensor_type) and not isinstance(v.buffer, Node):
                    out.setdefault(id(v.buffer), []).append(((obj, k, v), v._view.key()))
    return out


def resolve(holder: Any) -> Any:
    """The tensor a state holder points at now (None if it is gone)."""
    if isinstance(holder, tuple):
        found = holder[0].get(holder[1])
        return found if found is not None and hasattr(found, "buffer") else None
    return holder()


def _replay(plan: Plan, tensors: list, on_result: Any = None) -> Any:
    bufs: list[Any] = [None] * (len(plan.slots) + 1)
    for slot, position in plan.args:
        bufs[slot] = tensors[position].buffer
    for slot, holder, view_key in plan.state:
        t = resolve(holder)
        if t is None or isinstance(t.buffer, Node) or t._view.key() != view_key:
            return _STALE
        bufs[slot] = t.buffer
    for slot, buffer in plan.consts:
        bufs[slot] = buffer
    for slot, buffer in plan.internal:
        bufs[slot] = buffer
    device = plan.device
    if device.compiles:  # an interpreter returns new buffers itself
        for slot, node in plan.outs:
            bufs[slot] = device.alloc(_numel(node.shape), node.dtype)
    if on_result is None:
        run_steps(plan, bufs)
    else:
        run_steps(plan, bufs, _result_reporter(plan, bufs, on_result))
    for ref, slot in plan.rebind:
        storage = ref()
        if storage is not None:
            storage.buffer = bufs[slot]
    for ref, slot, view, dtype in plan.grads:
        owner = ref()
        if owner is not None:
            owner.grad = owner._make(bufs[slot], view, dtype, device)
    made = [_make(bufs[slot], view, dtype, device) for slot, view, dtype in plan.results]
    return _rebuild(plan.structure, _tensor_type((), {}), made)


def _make(buffer: Any, view: View, dtype: Any, device: Any) -> Any:
    return _tensor_type((), {})._make(buffer, view, dtype, device)


def _result_reporter(plan: Plan, bufs: list, on_result: Any) -> Callable[[int], None]:
    """``after(step index)`` calling ``on_result`` for the returned tensors that no later
    step touches (the last step naming a buffer is the last to write it); results that are
    inputs or written back in place are reported after the last step."""
    last: dict[int, int] = {}
    for index, step in enumerate(plan.steps):
        for n in step.nodes:
            last[plan.slots[id(n)]] = index
    final = len(plan.steps) - 1
    late = {target for target, _, _, _ in plan.writeback}
    ready: dict[int, list[int]] = {}
    for k, (slot, _, _) in enumerate(plan.results):
        at = final if slot in late else min(last.get(slot, final), final)
        ready.setdefault(at, []).append(k)

    def after(index: int) -> None:
        for k in ready.get(index, ()):
            slot, view, dtype = plan.results[k]
            on_result(k, _make(bufs[slot], view, dtype, plan.device))
    return after


def run_steps(plan: Plan, bufs: list, after: Callable[[int], None] | None = None) -> None:
    """Launch every step of ``plan`` on the buffer table ``bufs`` (calling ``after(i)``
    after step i, when given), then copy the final contents of memory written in place
    back into it."""
    if not plan.steps and after is not None:
        after(-1)
    _run_kernels(plan, bufs, after)
    for target, source, count, dtype in plan.writeback:
        view = View((count,))
        plan.device.assign(bufs[target], view, dtype, (bufs[source], view, dtype))


def _run_kernels(plan: Plan, bufs: list, after: Callable[[int], None] | None = None) -> None:
    device = plan.device
    for index, step in enumerate(plan.steps):
        if step.kind == "matmul":
            out, a, b, *addends = step.launch
            (_, av, _), (_, bv, _) = step.product.srcs
            if addends:  # a product with an epilogue (schedule rule 3)
                device.matmul(bufs[a], av, bufs[b], bv, bufs[out], step.product.shape,
                              [(bufs[x], v) for x, v in zip(addends, step.views)])
            else:
                device.matmul(bufs[a], av, bufs[b], bv, bufs[out], step.product.shape)
        elif step.kind == "eager":
            node = step.nodes[0]
            ins = [(bufs[plan.slots[id(s)]], v, dt) for s, v, dt in node.srcs]
            bufs[plan.slots[id(node)]] = device.execute(node.op, node.shape, node.dtype, ins,
                                                        node.arg)
        else:
            launch, slots = step.launch
            bases = tuple(random_base(*n.arg) for n in step.randoms)
            if launch.run([bufs[s] for s in slots], bases):
                raise IndexError(f"zili.jit: an index is out of range in kernel "
                                 f"{step.kernel.name}")
        if after is not None:
            after(index)


def _numel(shape: tuple[int, ...]) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def jit(fn: Callable[..., Any]) -> JitFunction:
    """Compile ``fn`` (forward, backward and optimizer step alike) into fused kernels that
    later calls replay; see :mod:`zili.jit.jit`.

    Raises (from the call):
        RuntimeError: if the traced function reads a tensor's value (``.item()``).
    """
    return JitFunction(fn)


__all__ = ["JitFunction", "Launchable", "Plan", "jit"]
