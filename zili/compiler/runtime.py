"""Binding a kernel to a device: render it in the device's dialect, compile it through the
device, and launch it with its integer parameters and launch geometry.

The compiler knows no device: it calls the contract every compiled device implements
(:class:`zili.devices.compiled.CompiledDevice`: ``renderer``, ``compile``, ``launch``). The
device layer sits above this one and uses it for eager primitives; ``zili.jit`` uses it for
fused plans. ``ZILI_DEBUG=1`` prints every kernel's name, shape and time; ``=2`` also the
source the first time it is built.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from zili.compiler.ir import Kernel

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


class Signature:
    """What a compiled kernel takes: ``buffers`` buffer arguments, then ``ints`` 64-bit
    integers; ``checks`` says whether it reports out-of-range indices (gather, scatter_add)."""

    __slots__ = ("buffers", "ints", "checks")

    def __init__(self, buffers: int, ints: int, checks: bool):
        self.buffers, self.ints, self.checks = buffers, ints, checks


class Launchable:
    """A compiled kernel bound to its integer parameters and launch geometry:
    ``run(buffers, random_bases)``."""

    __slots__ = ("device", "program", "ints", "describe", "source", "geometry")

    def __init__(self, device: Any, kernel: Kernel, dynamic: bool,
                 rendered: tuple[Any, str, list[int]] | None = None):
        """Render ``kernel`` (unless ``rendered`` = (renderer, source, ints) is given, the
        source possibly holding other kernels too) and compile it through ``device``."""
        self.device = device
        renderer, source, ints = rendered or _render(device, kernel, dynamic)
        self.geometry = renderer.geometry(kernel)
        signature = Signature(len(kernel.buffers), kernel.random_params + len(ints),
                              kernel.checks_indices)
        self.program = device.compile(kernel.name, source, signature)
        self.ints, self.describe, self.source = ints, kernel.describe(), source
        Stats.compiled += 1
        if debug_level() >= 2:
            print(f"[zili] kernel {kernel.describe()}\n{source}", file=sys.stderr)

    def run(self, buffers: list[Any], random_bases: tuple[int, ...] = ()) -> bool:
        """Launch on ``buffers`` (in the kernel's order); True when an index was out of
        range."""
        Stats.launched += 1
        ints = [*random_bases, *self.ints]
        if debug_level():
            start = time.perf_counter()
            failed = self.device.launch(self.program, buffers, ints, self.geometry)
            self.device.synchronize()
            print(f"[zili] {self.describe} {1e6 * (time.perf_counter() - start):.1f} us",
                  file=sys.stderr)
            return failed
        return self.device.launch(self.program, buffers, ints, self.geometry)


def _render(device: Any, kernel: Kernel, dynamic: bool) -> tuple[Any, str, list[int]]:
    renderer = device.renderer(dynamic)
    source, ints = renderer.render(kernel)
    return renderer, source, ints


def compile_plan(device: Any, kernels: list[Kernel]) -> list[Launchable]:
    """Static kernels of one jit plan. A device with ``program_per_plan`` gets them as one
    program (one source: the dialect's prelude once, then every kernel), so a driver that
    takes a second per build (PoCL) builds once per plan; others get one program each."""
    if not getattr(device, "program_per_plan", False) or not kernels:
        return [Launchable(device, k, dynamic=False) for k in kernels]
    parts = [_render(device, k, False) for k in kernels]
    prelude = parts[0][0].prelude
    source = prelude + "".join(src.removeprefix(prelude) for _, src, _ in parts)
    return [Launchable(device, k, False, (r, source, ints))
            for k, (r, _, ints) in zip(kernels, parts)]
