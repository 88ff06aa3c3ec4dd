"""The compiler: kernel IR, lowering, fusion scheduler, renderers, runtime and ``zili.jit``.

Importing it registers the ``cpu`` device: :class:`~zili.devices.cpu.CPUDevice` (memory,
``cc``, ctypes) with :class:`~zili.compiler.runtime.CompiledExecution` (lower -> render C ->
compile -> launch). The compiler sits above the devices, so the device module never imports
the compiler; the pairing of a device with its renderer happens here. ``cpu`` becomes the
default device when a C compiler is found; otherwise zili stays on ``numpy`` and says so once.
"""

from __future__ import annotations

import sys

from zili.compiler.render_c import CRenderer
from zili.compiler.runtime import CompiledExecution, Stats
from zili.devices import register_device
from zili.devices.cpu import CPUDevice, compiler_command


class CPU(CompiledExecution, CPUDevice):
    """The ``cpu`` device: host buffers and kernels compiled from generated C."""

    renderer_class = CRenderer


if compiler_command() is not None:
    register_device("cpu", CPU, priority=10)
else:
    register_device("cpu", CPU, priority=-1)
    print("zili: no C compiler found (cc, or set CC); falling back to the numpy device",
          file=sys.stderr)

__all__ = ["CPU", "CRenderer", "CompiledExecution", "Stats"]
