"""Fused scaled-dot-product attention for C-compiling devices: compile the kernels of
:mod:`zili.compiler.attention_source` once and run them on flat buffers read through views.

A device offers it to the tensor layer as the fused replacement of the composite
``scaled_dot_product_attention`` (``device.fused_composites``); the tensor layer decides
when it applies (float32, no mask other than causal, no dropout) and records autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zili.compiler.attention_source import ATTENTION_BACKWARD, ATTENTION_FORWARD, ATTENTION_SOURCE
from zili.compiler.gemm import collapse_batch, compile_kernel, float_bits
from zili.dtype import float32
from zili.ops.view import View

Operand = tuple[np.ndarray, View]


class FusedAttention:
    """Forward and backward attention kernels of one device (``device.compile`` returns an
    object whose ``fn`` is the ctypes function, and ``device.alloc`` gives flat buffers)."""

    def __init__(self, device: Any):
        self.device = device
        # One source, two entry points; the comment keeps the two programs apart in caches
        # keyed by source alone.
        self.forward_program = compile_kernel(
            device, ATTENTION_FORWARD, f"{ATTENTION_SOURCE}/* {ATTENTION_FORWARD} */\n", 5, 20)
        self.backward_program = compile_kernel(
            device, ATTENTION_BACKWARD, f"{ATTENTION_SOURCE}/* {ATTENTION_BACKWARD} */\n", 9,
            21)

    @staticmethod
    def supports(q: View, k: View, v: View) -> bool:
        """Whether the kernels read these views directly: the same batch axes, rows of
        contiguous elements (last stride 1), no padding masks, at most two batch axes that
        no single stride walks, and at least one query and one key."""
        views = (q, k, v)
        if any(view.mask is not None or view.shape[-1] > 1 and view.strides[-1] != 1
               for view in views):
            return False
        if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]) or q.shape[-2] == 0 or \
                k.shape[-2] == 0:
            return False
        return len(collapse_batch(q.shape[:-2], [list(x.strides[:-2]) for x in views])) <= 2

    def forward(self, q: Operand, k: Operand, v: Operand, causal: bool,
                scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Output (..., L, Ev) and the rows' log-sum-exp (..., L), both contiguous float32.

        Raises:
            MemoryError: if a kernel could not allocate its scratch memory.
        """
        batch, ints = self._ints(q, k, v, causal, scale)
        length, width = q[1].shape[-2], v[1].shape[-1]
        out = self.device.alloc(batch * length * width, float32)
        lse = self.device.alloc(batch * length, float32)
        if self.device.launch(self.forward_program, [out, lse, q[0], k[0], v[0]], ints):
            raise MemoryError("scaled_dot_product_attention: the fused kernel could not "
                              "allocate its scratch memory")
        return out, lse

    def backward(self, q: Operand, k: Operand, v: Operand, causal: bool, scale: float,
                 out: np.ndarray, lse: np.ndarray,
                 grad: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gradients (dq, dk, dv), contiguous, from the forward's ``out`` and ``lse`` and
        the gradient of the output (a buffer and the offset where its contiguous elements
        start).

        Raises:
            MemoryError: if a kernel could not allocate its scratch memory.
        """
        batch, ints = self._ints(q, k, v, causal, scale)
        length, source = q[1].shape[-2], k[1].shape[-2]
        width, vwidth = q[1].shape[-1], v[1].shape[-1]
        dq = self.device.alloc(batch * length * width, float32)
        dk = self.device.alloc(batch * source * width, float32)
        dv = self.device.alloc(batch * source * vwidth, float32)
        buffers = [dq, dk, dv, q[0], k[0], v[0], out, lse, grad[0]]
        if self.device.launch(self.backward_program, buffers, ints + [grad[1]]):
            raise MemoryError("scaled_dot_product_attention: the fused backward kernel could "
                              "not allocate its scratch memory")
        return dq, dk, dv

    @staticmethod
    def _ints(q: Operand, k: Operand, v: Operand, causal: bool,
              scale: float) -> tuple[int, list]:
        views = [q[1], k[1], v[1]]
        lead = q[1].shape[:-2]
        dims = collapse_batch(lead, [list(view.strides[:-2]) for view in views])
        while len(dims) < 2:
            dims.insert(0, (1, [0, 0, 0]))
        (outer, outer_strides), (inner, inner_strides) = dims
        ints: list = [q[1].offset, k[1].offset, v[1].offset, outer * inner, inner,
                      q[1].shape[-2], k[1].shape[-2], q[1].shape[-1], v[1].shape[-1],
                      int(causal), float_bits(scale)]
        for d, (_, view) in enumerate((q, k, v)):
            ints += [outer_strides[d], inner_strides[d], view.strides[-2]]
        return outer * inner, ints
