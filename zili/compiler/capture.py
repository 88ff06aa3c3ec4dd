"""The hook every primitive passes: while ``zili.jit`` traces, primitives are recorded into
a graph instead of running.

``zili.tensor.tensor.execute`` checks :data:`TRACING` (an empty list when nothing is being
traced, so the check costs one attribute load) and hands the call to the innermost tracer.
"""

from __future__ import annotations

from typing import Any

# The active tracers, innermost last. Empty: primitives run eagerly.
TRACING: list[Any] = []
