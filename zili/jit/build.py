"""From a finished trace to a :class:`~zili.jit.jit.Plan`: find what escapes, schedule,
compile, bind every buffer to where it comes from, and run the plan for the tracing call."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from zili.compiler.lower import Node, matmul_kernel
from zili.compiler.runtime import compile_plan
from zili.compiler.schedule import Step, schedule, toposort
from zili.jit.jit import Plan, Tracer, _flatten, _tensor_type, run_steps


def build_plan(tracer: Tracer, before: dict[int, list[tuple[Any, Any]]], args: list,
               result: Any) -> tuple[Plan, Any]:
    """Compile the traced graph and run it once; returns the plan and the call's result.

    Raises:
        NotImplementedError: if the function drew random numbers (a replay would repeat
            them); draw them outside the jitted function and pass them in.
    """
    if tracer.randoms:
        raise NotImplementedError("zili.jit: random numbers drawn inside a jitted function "
                                  "would repeat on every replay; draw them outside and pass "
                                  "them in as arguments")
    tensor_type = _tensor_type((), {})
    plan = Plan()
    returned: list[Any] = []
    _flatten(result, tensor_type, returned, [])
    plan.structure = result
    # Memory from before the trace that the function wrote in place keeps its buffer: the
    # final contents are copied back into it after every replay.
    writeback: list[tuple[Node, Node]] = []
    for storage, real, leaf in tracer.written.values():
        writeback.append((leaf, storage.buffer))
        storage.buffer = real
    # Collect first: a dead tensor still in a reference cycle would otherwise count as
    # escaping, and the plan (its kernels, so its cache key) would depend on when the
    # collector last ran.
    gc.collect()
    escaping = [o for o in gc.get_objects()
                if issubclass(type(o), tensor_type) and isinstance(o.buffer, Node)]
    escaping_ids = {id(t) for t in escaping}
    for t in returned:
        if id(t) not in escaping_ids and not isinstance(t.buffer, Node):
            t._storage.buffer = tracer.leaf(t.buffer, t._view, t.dtype)  # returned as it came in
            escaping.append(t)
    root_of: dict[int, Node] = {}  # by id: thousands of tensors, so no list scans
    for t in escaping + returned:
        root_of.setdefault(id(t.buffer), t.buffer)
    escaping_nodes = set(root_of)
    for leaf, final in writeback:
        root_of.setdefault(id(final), final)
        root_of.setdefault(id(leaf), leaf)
    roots = list(root_of.values())
    device = (escaping or returned)[0].device if (escaping or returned) else \
        (tracer.devices[0] if writeback else None)
    if device is None:
        return plan, result
    plan.device = device
    if device.compiles:
        plan.steps = schedule([r for r in roots if r.op is not None],
                              epilogues=getattr(device, "matmul_epilogue", ()))
    else:
        plan.steps = [Step("eager", [n, *(s for s, _, _ in n.srcs)]) for n in toposort(roots)
                      if n.op is not None]
    for step in plan.steps:
        for n in step.nodes:
            plan.slots.setdefault(id(n), len(plan.slots))
    for r in roots:
        plan.slots.setdefault(id(r), len(plan.slots))
    bufs: list[Any] = [None] * (len(plan.slots) + 1)
    _bind_leaves(plan, tracer, before, args, bufs)
    plan.writeback = [(plan.slots[id(leaf)], plan.slots[id(final)], _numel(leaf.shape),
                       leaf.dtype) for leaf, final in writeback]
    nodes = {id(n): n for step in plan.steps for n in step.nodes} | {id(r): r for r in roots}
    for key, slot in plan.slots.items():
        node = nodes[key]
        if node.op is None:
            continue
        buffer = device.alloc(_numel(node.shape), node.dtype) \
            if device.compiles else None
        bufs[slot] = buffer
        if key in escaping_nodes:
            plan.outs.append((slot, node))
        elif buffer is not None:
            plan.internal.append((slot, buffer))
    for index, step in enumerate(plan.steps):
        if step.kind == "matmul" and device.matmul is None:  # the compiler's tiled kernel
            step.kind = "kernel"
            step.kernel, _ = matmul_kernel(f"j_matmul_{index}", step.product)
        if step.kind == "matmul":  # the device's library
            step.launch = tuple(plan.slots[id(n)] for n in step.nodes)
    kernels = [s for s in plan.steps if s.kind == "kernel"]
    for step, launchable in zip(kernels, compile_plan(device, [s.kernel for s in kernels])):
        step.launch = (launchable, [plan.slots[id(n)] for n in step.nodes])
        step.lowering = None
    run_steps(plan, bufs)
    _bind_outputs(plan, before, escaping, returned, bufs)
    return plan, result


def _bind_leaves(plan: Plan, tracer: Tracer, before: dict, args: list, bufs: list) -> None:
    arg_of = {}
    for position, t in enumerate(args):
        arg_of.setdefault(id(t.buffer), position)
    for key, leaf in tracer.leaves.items():
        slot = plan.slots.get(id(leaf))
        if slot is None:
            continue
        bufs[slot] = leaf.buffer
        if key in arg_of:
            plan.args.append((slot, arg_of[key]))
            continue
        holders = [(h, vk) for h, vk in before.get(key, []) if _alive(h)]
        if key in tracer.constants or not holders:
            plan.consts.append((slot, leaf.buffer))
            continue
        # Prefer a holder the function rebound (a parameter updated in place), then a dict
        # entry it replaced (optimizer state): the next call must read their new values.
        rebound = [(h, vk) for h, vk in holders if not isinstance(h, tuple) and
                   isinstance(h().buffer, Node)]
        replaced = [((h[0], h[1]), vk) for h, vk in holders if isinstance(h, tuple) and
                    h[0].get(h[1]) is not h[2] and isinstance(
                        getattr(h[0].get(h[1]), "buffer", None), Node)]
        holder, view_key = (rebound or replaced or holders)[0]
        if isinstance(holder, tuple) and len(holder) == 3:
            holder = (holder[0], holder[1])
        plan.state.append((slot, holder, view_key))


def _alive(holder: Any) -> bool:
    if isinstance(holder, tuple):
        return True
    return holder() is not None


def _bind_outputs(plan: Plan, before: dict, escaping: list, returned: list,
                  bufs: list) -> None:
    returned_ids = {id(t) for t in returned}
    storages: dict[int, Any] = {}
    rebound: set[int] = set()
    for t in escaping:
        storages.setdefault(id(t._storage), t._storage)
        slot = plan.slots[id(t.buffer)]
        if id(t) not in returned_ids and id(t._storage) not in rebound:
            rebound.add(id(t._storage))
            plan.rebind.append((weakref.ref(t._storage), slot))
    for refs in before.values():
        for ref, _ in refs:
            if isinstance(ref, tuple):
                continue
            owner = ref()
            grad = getattr(owner, "grad", None) if owner is not None else None
            if grad is not None and isinstance(grad.buffer, Node):
                plan.grads.append((ref, plan.slots[id(grad.buffer)], grad._view, grad.dtype))
    for t in returned:
        plan.results.append((plan.slots[id(t.buffer)], t._view, t.dtype))
    for storage in storages.values():
        storage.buffer = bufs[plan.slots[id(storage.buffer)]]


def _numel(shape: tuple[int, ...]) -> int:
    out = 1
    for s in shape:
        out *= s
    return out
