"""Fused scaled-dot-product attention for C-compiling devices: compile the kernels of
:mod:`zili.compiler.attention_source` once and run them on flat buffers read through views.

A device offers it to the tensor layer as the fused replacement of the composite
``scaled_dot_product_attention`` (``device.fused_composites``); the tensor layer decides
when it applies (float32, no mask other than causal, no dropout) and records autograd.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from zili.compiler.attention_source import ATTENTION_BACKWARD, ATTENTION_FORWARD, ATTENTION_SOURCE
from zili.compiler.gemm import collapse_batch
from zili.dtype import float32
from zili.ops.view import View

_L, _P = ctypes.c_long, ctypes.c_void_p
_COMMON = [_L] * 7 + [ctypes.c_float] + [_P, _L, _L, _L] * 3
_FORWARD = _COMMON + [_P, _P]
_BACKWARD = _COMMON + [_P] * 6

Operand = tuple[np.ndarray, View]


class FusedAttention:
    """Forward and backward attention kernels of one device (``device.compile`` returns an
    object whose ``fn`` is the ctypes function, and ``device.alloc`` gives flat buffers)."""

    def __init__(self, device: Any):
        self.device = device
        # One source, two entry points; the comment keeps the two programs apart in caches
        # keyed by source alone.
        self.forward_program = device.compile(
            ATTENTION_FORWARD, f"{ATTENTION_SOURCE}/* {ATTENTION_FORWARD} */\n", _FORWARD)
        self.backward_program = device.compile(
            ATTENTION_BACKWARD, f"{ATTENTION_SOURCE}/* {ATTENTION_BACKWARD} */\n", _BACKWARD)

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
        batch, common = self._common(q, k, v, causal, scale)
        length, width = q[1].shape[-2], v[1].shape[-1]
        out = self.device.alloc(batch * length * width, float32)
        lse = self.device.alloc(batch * length, float32)
        if self.forward_program.fn(*common, out.ctypes.data, lse.ctypes.data):
            raise MemoryError("scaled_dot_product_attention: the fused kernel could not "
                              "allocate its scratch memory")
        return out, lse

    def backward(self, q: Operand, k: Operand, v: Operand, causal: bool, scale: float,
                 out: np.ndarray, lse: np.ndarray,
                 grad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gradients (dq, dk, dv), contiguous, from the forward's ``out`` and ``lse`` and
        the contiguous gradient of the output.

        Raises:
            MemoryError: if a kernel could not allocate its scratch memory.
        """
        batch, common = self._common(q, k, v, causal, scale)
        length, source = q[1].shape[-2], k[1].shape[-2]
        width, vwidth = q[1].shape[-1], v[1].shape[-1]
        dq = self.device.alloc(batch * length * width, float32)
        dk = self.device.alloc(batch * source * width, float32)
        dv = self.device.alloc(batch * source * vwidth, float32)
        if self.backward_program.fn(*common, out.ctypes.data, lse.ctypes.data,
                                    grad.ctypes.data, dq.ctypes.data, dk.ctypes.data,
                                    dv.ctypes.data):
            raise MemoryError("scaled_dot_product_attention: the fused backward kernel could "
                              "not allocate its scratch memory")
        return dq, dk, dv

    @staticmethod
    def _common(q: Operand, k: Operand, v: Operand, causal: bool,
                scale: float) -> tuple[int, list]:
        views = [q[1], k[1], v[1]]
        lead = q[1].shape[:-2]
        dims = collapse_batch(lead, [list(view.strides[:-2]) for view in views])
        while len(dims) < 2:
            dims.insert(0, (1, [0, 0, 0]))
        (outer, outer_strides), (inner, inner_strides) = dims
        args: list = [outer * inner, inner, q[1].shape[-2], k[1].shape[-2], q[1].shape[-1],
                      v[1].shape[-1], int(causal), float(scale)]
        for d, (buffer, view) in enumerate((q, k, v)):
            args += [buffer.ctypes.data + 4 * view.offset, outer_strides[d], inner_strides[d],
                     view.strides[-2]]
        return outer * inner, args
