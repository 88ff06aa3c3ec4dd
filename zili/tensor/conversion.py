"""Converting a tensor: to host memory (NumPy, DLPack, Python numbers) and to other dtypes.

A mixin of :class:`zili.tensor.tensor.Tensor`; the dtype casts all go through ``Tensor.to``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zili import dtype as dtypes
from zili.compiler import capture
from zili.devices.numpy import read as host_read
from zili.tensor.autograd import grad_mode

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

Scalar = int | float | bool


class ConversionOps:
    """``numpy``, ``__dlpack__``, ``__array__``, ``item``, ``tolist``; ``float`` ... ``bool``,
    ``type``, ``is_floating_point``."""

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (float16 as float16, bfloat16 as ml_dtypes.bfloat16).

        On a host device (numpy, cpu) the array shares the tensor's memory, as PyTorch's
        does: writing to one changes the other. Padded views, shared constants and other
        devices give a copy.

        Raises:
            RuntimeError: if the tensor requires grad (call .detach() first, as in PyTorch).
        """
        if self.requires_grad and grad_mode.enabled:
            raise RuntimeError("numpy(): can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        if not capture.TRACING and not self._storage.constant:
            shared = self.device.host_array(self.buffer, self._view, self.dtype)
            if shared is not None:
                return shared
        return self.device.to_numpy(self.buffer, self._view, self.dtype)

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None, dl_device: Any = None,
                   copy: bool | None = None) -> Any:
        """A DLPack capsule over this tensor's host memory, shared, not copied
        (``numpy.from_dlpack(t)``, ``torch.from_dlpack(t)``); zili.io.dlpack has the rest.

        Raises:
            BufferError: the tensor requires grad (detach first) or its device's memory is
                not host memory (move it with ``.to("cpu")``).
        """
        if self.requires_grad:
            raise BufferError("__dlpack__: the tensor requires grad; export tensor.detach()")
        if not isinstance(self.buffer, np.ndarray):
            raise BufferError(f"__dlpack__: device {self.device.name!r} does not keep host "
                              "memory; move the tensor with .to('cpu') first")
        kwargs = {k: v for k, v in (("stream", stream), ("max_version", max_version),
                                    ("dl_device", dl_device), ("copy", copy)) if v is not None}
        return host_read(self.buffer, self._view).__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        """(kDLCPU, 0): zili's DLPack exports are host memory."""
        return (1, 0)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(t)``: the numeric array (shared memory where ``numpy()`` shares)."""
        out = self.numpy()
        if dtype is not None and out.dtype != np.dtype(dtype):
            return out.astype(dtype)
        return np.array(out, copy=True) if copy else out

    def item(self) -> Scalar:
        """The value of a one-element tensor as a Python number.

        Raises:
            ValueError: if the tensor has more than one element.
        """
        if self.numel() != 1:
            raise ValueError(f"item(): tensor of shape {self.shape} has {self.numel()} "
                             "elements; only one-element tensors can be converted")
        return self.device.to_numpy(self.buffer, self._view, self.dtype).reshape(()).item()

    def tolist(self) -> Any:
        """The data as nested Python lists."""
        return self.detach().numpy().tolist()

    def float(self) -> Tensor:
        """Cast to float32."""
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        """Cast to float64."""
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        """Cast to float16."""
        return self.to(dtypes.float16)

    def bfloat16(self) -> Tensor:
        """Cast to bfloat16."""
        return self.to(dtypes.bfloat16)

    def long(self) -> Tensor:
        """Cast to int64."""
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        """Cast to int32."""
        return self.to(dtypes.int32)

    def short(self) -> Tensor:
        """Cast to int16."""
        return self.to(dtypes.int16)

    def char(self) -> Tensor:
        """Cast to int8."""
        return self.to(dtypes.int8)

    def byte(self) -> Tensor:
        """Cast to uint8."""
        return self.to(dtypes.uint8)

    def bool(self) -> Tensor:
        """Cast to bool (nonzero is True)."""
        return self.to(dtypes.bool_)

    def type(self, dtype: Any) -> Tensor:
        """Cast to ``dtype``."""
        return self.to(dtypes.to_dtype(dtype))

    def is_floating_point(self) -> bool:
        """True for floating-point dtypes."""
        return self.dtype.is_floating_point
