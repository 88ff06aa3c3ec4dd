"""``zili.jit``: trace a function over tensors once, replay its compiled plan. It sits above
the tensor layer because it handles tensors (holders, gradients, rebinding)."""

from zili.jit.jit import JitFunction, Plan, jit

__all__ = ["JitFunction", "Plan", "jit"]
