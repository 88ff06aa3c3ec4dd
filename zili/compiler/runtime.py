"""Running kernels: eager primitives and jit plans through one path (lower -> render ->
compile -> launch).

:class:`CompiledExecution` is mixed into a code-generating device (one that provides
``alloc``, ``compile``, ``launch`` and ``matmul``) and gives it :meth:`execute`: the first
time a signature (op, dtypes, shape, views, arg) is seen the primitive is lowered to a
one-node kernel, rendered in *dynamic* mode (sizes and strides as parameters, so kernels of
the same structure share one compiled program) and compiled; later calls only look the
signature up and launch. ``ZILI_DEBUG=1`` prints every kernel's name, shape and time; ``=2``
also the source the first time it is built.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from zili.compiler.ir import Kernel, collapse_axes
from zili.compiler.lower import GroupLowering, Node, assign_kernel, scatter_add_kernel
from zili.devices.device import check_assign
from zili.dtype import DType
from zili.ops import Op
from zili.ops.view import View

_ARGTYPES: dict[str, Any] = {}
GOLDEN = 0x9E3779B97F4A7C15


def debug_level() -> int:
    """The value of ``ZILI_DEBUG`` (0 when unset)."""
    try:
        return int(os.environ.get("ZILI_DEBUG", "0") or 0)
    except ValueError:
        return 0


class Stats:
    """Counters a test or a benchmark reads: kernels compiled and launched."""

    compiled = 0
    launched = 0


def random_base(seed: int, counter: int) -> int:
    """The hash input of element 0 for RANDOM (seed, counter), as a signed 64-bit integer."""
    base = (counter + seed * GOLDEN) % (1 << 64)
    return base - (1 << 64) if base >= 1 << 63 else base


class Launchable:
    """A compiled kernel bound to its integer parameters: ``run(buffers, random_bases)``."""

    __slots__ = ("device", "program", "ints", "describe", "source")

    def __init__(self, device: Any, kernel: Kernel, dynamic: bool):
        import ctypes
        self.device = device
        renderer = device.renderer_class(dynamic=dynamic)
        source, ints = renderer.render(kernel)
        argtypes = [ctypes.c_void_p] * len(kernel.buffers) + \
            [ctypes.c_longlong] * (kernel.random_params + len(ints))
        self.program = device.compile(kernel.name, source, argtypes)
        self.ints, self.describe, self.source = ints, kernel.describe(), source
        Stats.compiled += 1
        if debug_level() >= 2:
            print(f"[zili] kernel {kernel.describe()}\n{source}", file=sys.stderr)

    def run(self, buffers: list[Any], random_bases: tuple[int, ...] = ()) -> int:
        """Launch on ``buffers`` (in the kernel's order); returns the kernel's status."""
        Stats.launched += 1
        if debug_level():
            start = time.perf_counter()
            status = self.device.launch(self.program, buffers, [*random_bases, *self.ints])
            print(f"[zili] {self.describe} {1e6 * (time.perf_counter() - start):.1f} us",
                  file=sys.stderr)
            return status
        return self.device.launch(self.program, buffers, [*random_bases, *self.ints])


def lower_primitive(op: Op, shape: tuple[int, ...], dtype: DType,
                    operands: list[tuple[View, DType]], arg: Any) -> tuple[Kernel, list[int]]:
    """One primitive as a one-node kernel; also the kernel buffer order (-1: the output,
    k: input k)."""
    leaves = [Node(None, v.shape, dt, buffer=True) for v, dt in operands]
    node = Node(op, shape, dtype, tuple((leaf, v, dt) for leaf, (v, dt) in
                                        zip(leaves, operands)), arg)
    name = f"e_{op.value}"
    if op is Op.SCATTER_ADD:
        kernel, bufs = scatter_add_kernel(name, node)
    else:
        if op in (Op.SUM, Op.AMAX):
            lowering = GroupLowering(operands[0][0].shape, tuple(arg), lambda n: n.op is None)
        else:
            lowering = GroupLowering(shape, (), lambda n: n.op is None)
        lowering.add(node)
        kernel, bufs = lowering.kernel(name), lowering.buffers
    order = [-1 if b is node else leaves.index(b) for b in bufs]
    return collapse_axes(kernel), order


class CompiledExecution:
    """Mixin: ``execute`` for devices that compile kernels (see the module docstring)."""

    renderer_class: Any = None
    _eager: dict

    def execute(self, op: Op, shape: tuple[int, ...], dtype: DType, inputs: list,
                arg: Any = None) -> Any:
        """Run one primitive as a compiled kernel; see :meth:`zili.devices.Device.execute`.

        Raises:
            IndexError: for a GATHER/SCATTER_ADD index outside the indexed axis.
        """
        key = (op, shape, dtype, None if op is Op.RANDOM else arg,
               tuple((v.key(), dt) for _, v, dt in inputs))
        try:
            entry = self._eager[key]
        except AttributeError:
            self._eager = {}
            entry = None
        except KeyError:
            entry = None
        if entry is None:
            entry = self._eager[key] = self._prepare(op, shape, dtype, inputs, arg)
        launchable, order, count = entry
        out = self.alloc(count, dtype)
        if launchable is None:  # MATMUL: the device's BLAS
            (a, av, _), (b, bv, _) = inputs
            self.matmul(a, av, b, bv, out, shape)
            return out
        if count == 0:
            return out
        buffers = [out if k < 0 else inputs[k][0] for k in order]
        bases = (random_base(*arg),) if op is Op.RANDOM else ()
        if launchable.run(buffers, bases):
            raise IndexError(f"{op.value}: an index is out of range for axis {arg} "
                             f"(shape {shape}, index shape {inputs[-1][1].shape})")
        return out

    def assign(self, buffer: Any, view: View, dtype: DType, value: Any) -> None:
        """Write ``value`` into ``buffer`` through ``view`` with a compiled store kernel; see
        :meth:`zili.devices.Device.assign`.

        Raises:
            ValueError: from :func:`~zili.devices.device.check_assign`.
        """
        check_assign(len(buffer), view, dtype, value)
        source, value_view, value_dtype = value
        if view.numel == 0:
            return
        if source is buffer:  # kernel arguments are restrict: read the value out first
            source = self.execute(Op.COPY, view.shape, dtype, [value])
            value_view = View(view.shape)
        key = ("assign", view.key(), dtype, value_view.key())
        try:
            launchable = self._eager[key][0]
        except AttributeError:
            self._eager = {}
            launchable = None
        except KeyError:
            launchable = None
        if launchable is None:
            kernel = collapse_axes(assign_kernel("e_assign", view, dtype, value_view,
                                                 value_dtype))
            launchable = Launchable(self, kernel, dynamic=True)
            self._eager[key] = (launchable, [], 0)
        launchable.run([buffer, source])

    def _prepare(self, op: Op, shape: tuple[int, ...], dtype: DType, inputs: list,
                 arg: Any) -> tuple[Launchable | None, list[int], int]:
        count = 1
        for s in shape:
            count *= s
        if op is Op.MATMUL:
            return None, [], count
        kernel, order = lower_primitive(op, shape, dtype, [(v, dt) for _, v, dt in inputs],
                                        arg)
        return Launchable(self, kernel, dynamic=True), order, count
