"""The compiler: kernel IR, lowering, fusion scheduler, renderers, runtime and ``zili.jit``.

Importing it registers the ``cpu`` device: :class:`~zili.devices.cpu.CPUDevice` (memory,
``cc``, ctypes) with :class:`~zili.compiler.runtime.CompiledExecution` (lower -> render C ->
compile -> launch). The compiler sits above the devices, so the device module never imports
the compiler; the pairing of a device with its renderer happens here. ``cpu`` becomes the
default device when a C compiler is found; otherwise zili stays on ``numpy`` and says so once.
"""

from __future__ import annotations

import sys

from zili.compiler.attention_cuda import CUDAFlashAttention
from zili.compiler.render_c import CRenderer
from zili.compiler.render_cuda import PRELUDE, CUDARenderer
from zili.compiler.runtime import CompiledExecution, Stats
from zili.devices import register_device
from zili.devices.cpu import CPUDevice, compiler_command
from zili.devices.cuda import CUDADevice, CUDAUnavailableError, driver_problem


class CPU(CompiledExecution, CPUDevice):
    """The ``cpu`` device: host buffers and kernels compiled from generated C."""

    renderer_class = CRenderer


if compiler_command() is not None:
    register_device("cpu", CPU, priority=10)
else:
    register_device("cpu", CPU, priority=-1)
    print("zili: no C compiler found (cc, or set CC); falling back to the numpy device",
          file=sys.stderr)



class CUDA(CompiledExecution, CUDADevice):
    """The ``cuda`` device: GPU buffers and kernels rendered in CUDA, compiled by NVRTC;
    flash attention as its fused ``scaled_dot_product_attention``."""

    renderer_class = CUDARenderer
    _fused: dict | None = None

    @property
    def fused_composites(self) -> dict:
        """Fused replacements of composites (zili.tensor.fused), compiled on first use."""
        if self._fused is None:
            self._fused = {"scaled_dot_product_attention": CUDAFlashAttention(self, PRELUDE)}
        return self._fused


def _cuda() -> CUDA:
    """Build the cuda device, or raise one line saying why it cannot run here."""
    problem = driver_problem()
    if problem is not None:
        raise CUDAUnavailableError(f"device 'cuda' is not available: {problem}; use "
                                   "device='cpu' or 'numpy'") from None
    return CUDA()


# The default device where a GPU is present; listed (last) everywhere else, so asking for it
# gives the one-line reason instead of "unknown device".
register_device("cuda", _cuda, priority=20 if driver_problem() is None else -10)

__all__ = ["CPU", "CUDA", "CUDARenderer", "CRenderer", "CompiledExecution", "Stats"]
