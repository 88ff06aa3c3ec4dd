"""Calling the ``cpu`` device's compiled C kernels through ctypes: buffer addresses, status
codes (0 ok, 1 index out of range, 2 out of memory), and the direct path eager primitives
take.

An eager primitive on a small tensor costs microseconds of Python per launch and
nanoseconds of arithmetic, so the one-launch kernels of eager primitives get a closure that
calls the C function itself (:func:`direct_launcher`), skipping the layers of
:meth:`zili.compiler.runtime.Launchable.run` and :meth:`CPUDevice.launch
<zili.devices.cpu.CPUDevice.launch>`, which do the same work in more calls.
"""

from __future__ import annotations

from collections.abc import Callable
from ctypes import addressof, c_char
from typing import Any

from zili.compiler import runtime
from zili.compiler.runtime import Launchable, Stats

INDEX_ERROR, OUT_OF_MEMORY = 1, 2


def addresses(buffers: list[Any]) -> list[int]:
    """The host addresses of NumPy ``buffers`` (ctypes' view of the memory: 3x faster than
    ``.ctypes.data``, which remains for read-only, empty or non-contiguous arrays)."""
    try:
        return [addressof(c_char.from_buffer(b)) for b in buffers]
    except (TypeError, ValueError, BufferError):
        return [b.ctypes.data for b in buffers]


def index_error(status: int, program: Any) -> bool:
    """True when a kernel's ``status`` reports an index out of range.

    Raises:
        MemoryError: when it reports that the kernel could not allocate its scratch memory.
    """
    if status == OUT_OF_MEMORY:
        raise MemoryError(f"cpu device: kernel {program.name} ran out of memory "
                          f"(source: {program.source_path})")
    return status == INDEX_ERROR


def direct_launcher(launchable: Launchable) -> Callable[[list[Any], tuple[int, ...]], bool]:
    """``run(buffers, random_bases)`` for ``launchable``: for a one-launch kernel (every
    eager primitive but two-pass reductions) a closure calling the C function directly,
    counted in :class:`~zili.compiler.runtime.Stats` as :meth:`Launchable.run` counts;
    :meth:`Launchable.run` itself otherwise, and for every launch made while ``ZILI_DEBUG``
    (:data:`zili.compiler.runtime.DEBUG`) is set, which times and prints each one.

    Raises (from the returned function):
        MemoryError: see :func:`index_error`.
    """
    if len(launchable.launches) != 1 or runtime.DEBUG:
        return launchable.run
    program = launchable.program
    handle, ints = program.handle, tuple(launchable.ints)
    debug_run = launchable.run

    def run(buffers: list[Any], bases: tuple[int, ...]) -> bool:
        if runtime.DEBUG:  # set after this kernel was first used: time and print it too
            return debug_run(buffers, bases)
        Stats.launched += 1
        try:
            status = handle(*[addressof(c_char.from_buffer(b)) for b in buffers], *bases,
                            *ints)
        except (TypeError, ValueError, BufferError):  # read-only, empty, not contiguous
            status = handle(*addresses(buffers), *bases, *ints)
        if status:
            return index_error(status, program)
        return False
    return run
