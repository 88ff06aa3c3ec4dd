"""The compiler: kernel IR, lowering, fusion scheduler, renderers (one per dialect), the
runtime that binds kernels to a device's compile/launch contract, and ``zili.jit``.

It knows dialects, not devices: a device (``zili.devices``, the layer above) names the
renderer it wants and implements compile and launch.
"""

from zili.compiler.runtime import Stats

__all__ = ["Stats"]
