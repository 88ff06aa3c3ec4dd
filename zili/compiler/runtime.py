"""Binding a kernel to a device: render it in the device's dialect, compile it through the
device, and launch it with its integer parameters and launch geometry.

The compiler knows no device: it calls the contract every compiled device implements
(:class:`zili.devices.compiled.CompiledDevice`: ``renderer``, ``compile``, ``launch``). The
device layer sits above this one and uses it for eager primitives; ``zili.jit`` uses it for
fused plans. ``ZILI_DEBUG=1`` (read at import; :data:`DEBUG` while running) prints every
kernel's name, shape and time; ``=2`` also the source the first time it is built.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from typing import Any

from zili.compiler.ir import Kernel

GOLDEN = 0x9E3779B97F4A7C15


def debug_level() -> int:
    """The value of ``ZILI_DEBUG`` (0 when unset)."""
    try:
        return int(os.environ.get("ZILI_DEBUG", "0") or 0)
    except ValueError:
        return 0


# Read once: reading the environment costs ~2 us, as much as a small kernel's launch. Set
# ``zili.compiler.runtime.DEBUG`` to change it while running.
DEBUG = debug_level()


class Stats:
    """Counters a test or a benchmark reads: kernels compiled and launched."""

    compiled = 0
    launched = 0


def random_base(seed: int, counter: int) -> int:
    """The hash input of element 0 for RANDOM (seed, counter), as a signed 64-bit integer."""
    base = (counter + seed * GOLDEN) % (1 << 64)
    return base - (1 << 64) if base >= 1 << 63 else base


class Signature:
    """What a compiled kernel takes: ``buffers`` buffer arguments, then ``ints`` 64-bit
    integers; ``checks`` says whether it reports out-of-range indices (gather, scatter_add)."""

    __slots__ = ("buffers", "ints", "checks")

    def __init__(self, buffers: int, ints: int, checks: bool):
        self.buffers, self.ints, self.checks = buffers, ints, checks


class Launchable:
    """A compiled kernel bound to its integer parameters and launch geometry:
    ``run(buffers, random_bases)``. A kernel may take several launches (a two-pass
    reduction), sharing scratch buffers allocated with it (before any graph capture)."""

    __slots__ = ("device", "program", "ints", "describe", "source", "geometry", "launches",
                 "scratch")

    def __init__(self, device: Any, kernel: Kernel, dynamic: bool,
                 rendered: tuple[Any, str, list[int]] | None = None,
                 function: str | None = None):
        """Render ``kernel`` (unless ``rendered`` = (renderer, source, ints) is given, the
        source possibly holding other kernels too, the kernel's being ``function``: its
        name by default) and compile it through ``device``."""
        self.device = device
        renderer, source, ints = rendered or _render(device, kernel, dynamic)
        self.launches = renderer.launches(kernel)
        self.geometry = self.launches[0]
        self.scratch = [device.alloc(n, dt) for n, dt in renderer.scratch(kernel)]
        signature = Signature(len(kernel.buffers) + len(self.scratch),
                              kernel.random_params + len(ints) + (len(self.launches) > 1),
                              kernel.checks_indices)
        self.program = device.compile(function or kernel.name, source, signature)
        self.ints, self.source = ints, source
        self.describe = kernel.describe() + renderer.note(kernel)
        Stats.compiled += 1
        if DEBUG >= 2:
            print(f"[zili] kernel {kernel.describe()}\n{source}", file=sys.stderr)

    def run(self, buffers: list[Any], random_bases: tuple[int, ...] = ()) -> bool:
        """Launch on ``buffers`` (in the kernel's order); True when an index was out of
        range."""
        Stats.launched += 1
        ints = [*random_bases, *self.ints] if random_bases else self.ints
        if len(self.launches) > 1:
            buffers = [*buffers, *self.scratch]
            failed = False
            for p, geometry in enumerate(self.launches):
                failed |= self._launch(buffers, [*ints, p], geometry)
            return failed
        return self._launch(buffers, ints, self.geometry)

    def _launch(self, buffers: list[Any], ints: list[int], geometry: Any) -> bool:
        if DEBUG:
            start = time.perf_counter()
            failed = self.device.launch(self.program, buffers, ints, geometry)
            self.device.synchronize()
            print(f"[zili] {self.describe} {1e6 * (time.perf_counter() - start):.1f} us",
                  file=sys.stderr)
            return failed
        return self.device.launch(self.program, buffers, ints, geometry)


def _render(device: Any, kernel: Kernel, dynamic: bool) -> tuple[Any, str, list[int]]:
    renderer = device.renderer(dynamic)
    source, ints = renderer.render(kernel)
    return renderer, source, ints


def compile_plan(device: Any, kernels: list[Kernel]) -> list[Launchable]:
    """Static kernels of one jit plan. A device with ``program_per_plan`` gets them as one
    program: one source holding the dialect's prelude once, then one function per distinct
    kernel (kernels that render the same apart from their name, such as every layer's copy
    of the same work, share the first one's function), so a plan is one compiler run and
    one load. When the device runs ``build_jobs`` > 1 compilers at once, the functions are
    cut into that many units of similar size separated by :data:`UNIT_BREAK` lines (a
    comment in every dialect): the device may compile each unit with the prelude as a
    translation unit of its own, in parallel, and link them into one binary. Other devices
    get one program per kernel."""
    if not getattr(device, "program_per_plan", False) or not kernels:
        return [Launchable(device, k, dynamic=False) for k in kernels]
    functions: dict[str, str] = {}  # function text with a placeholder name -> its name
    named: list[tuple[Kernel, Any, str, list[int]]] = []
    for kernel in kernels:
        renderer = device.renderer(False)  # one each: geometry may read the last render
        text, ints = renderer.render(replace(kernel, name=_PLACEHOLDER))
        name = functions.setdefault(text.removeprefix(renderer.prelude), kernel.name)
        named.append((kernel, renderer, name, ints))
    bodies = [text.replace(_PLACEHOLDER, name) for text, name in functions.items()]
    source = named[0][1].prelude + "".join(_units(bodies, getattr(device, "build_jobs", 1)))
    return [Launchable(device, kernel, False, (renderer, source, ints), function=name)
            for kernel, renderer, name, ints in named]


# Between two units of a plan's source: a comment in C, OpenCL C and CUDA alike.
UNIT_BREAK = "/* zili: unit break */\n"
_PLACEHOLDER = "zili_plan_kernel"
_FUNCTIONS_PER_UNIT = 12  # fewer per unit: the compiler's start-up outweighs the gain


def _units(bodies: list[str], jobs: int) -> list[str]:
    """``bodies`` in order, cut into at most ``jobs`` runs of similar length, with
    :data:`UNIT_BREAK` between runs."""
    count = max(1, min(jobs, len(bodies) // _FUNCTIONS_PER_UNIT))
    total = sum(len(b) for b in bodies)
    out, done, unit = [], 0, 1
    for body in bodies:
        if unit < count and done >= total * unit / count:
            out.append(UNIT_BREAK)
            unit += 1
        out.append(body)
        done += len(body)
    return out
