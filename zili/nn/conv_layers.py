"""Convolution, pooling, resampling and shape layers, as in ``torch.nn``: thin Modules over
:mod:`zili.nn.conv`, :mod:`zili.nn.pooling` and :mod:`zili.nn.resample`. Default
initialisation follows PyTorch's (kaiming-uniform with a=sqrt(5), bias U(-k, k) with
k = 1/sqrt(fan_in))."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from zili import dtype as dtypes
from zili.nn import conv, init, pooling, resample
from zili.nn.module import Module, Parameter
from zili.tensor import Tensor, empty


class _ConvNd(Module):
    d = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None, output_padding: Any = 0):
        super().__init__()
        name = type(self).__name__
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels "
                             f"({in_channels}) and out_channels ({out_channels})")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: unknown padding_mode {padding_mode!r}")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{name}: padding must be 'same', 'valid' or ints, got {padding!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = conv.ntuple(kernel_size, self.d, "kernel_size", name)
        self.stride = conv.ntuple(stride, self.d, "stride", name)
        self.dilation = conv.ntuple(dilation, self.d, "dilation", name)
        self.padding = padding if isinstance(padding, str) else \
            conv.ntuple(padding, self.d, "padding", name)
        self.output_padding = conv.ntuple(output_padding, self.d, "output_padding", name)
        self.padding_mode = padding_mode
        shape = (in_channels, out_channels // groups) if self.transposed else \
            (out_channels, in_channels // groups)
        dtype = dtype or dtypes.default_float
        self.weight = Parameter(empty(shape + self.kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty((out_channels,), dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weight (kaiming-uniform, a=sqrt(5)) and bias (U(-k, k))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        fn = getattr(conv, f"conv{self.d}d")
        if self.padding_mode == "zeros":
            return fn(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)
        pads = conv.conv_padding(self.padding, self.kernel_size, self.dilation, self.stride,
                                 type(self).__name__)
        flat = [v for before, after in reversed(pads) for v in (before, after)]
        padded = resample.pad(input, flat, self.padding_mode)
        return fn(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, groups={self.groups}")


class Conv1d(_ConvNd):
    """1-D convolution layer over (N, C, L)."""

    d = 1


class Conv2d(_ConvNd):
    """2-D convolution layer over (N, C, H, W)."""

    d = 2


class Conv3d(_ConvNd):
    """3-D convolution layer over (N, C, D, H, W)."""

    d = 3


class _ConvTransposeNd(_ConvNd):
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                 bias: bool = True, dilation: Any = 1, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None):
        if padding_mode != "zeros":
            raise ValueError(f"{type(self).__name__}: only padding_mode='zeros' is supported "
                             "(as PyTorch)")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:  # noqa: A002
        extra = self.output_padding
        if output_size is not None:
            sizes = tuple(output_size)[-self.d:]
            extra = tuple(o - ((n - 1) * s - 2 * p + dl * (k - 1) + 1) for o, n, s, p, dl, k in
                          zip(sizes, input.shape[-self.d:], self.stride, self.padding,
                              self.dilation, self.kernel_size))
        fn = getattr(conv, f"conv_transpose{self.d}d")
        return fn(input, self.weight, self.bias, self.stride, self.padding, extra,
                  self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution layer."""

    d = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution layer."""

    d = 2


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution layer."""

    d = 3


class _MaxPoolNd(Module):
    d = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        fn = getattr(pooling, f"max_pool{self.d}d")
        return fn(input, self.kernel_size, self.stride, self.padding, self.dilation,
                  self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_MaxPoolNd):
    """Max pooling over (N, C, L)."""

    d = 1


class MaxPool2d(_MaxPoolNd):
    """Max pooling over (N, C, H, W)."""

    d = 2


class MaxPool3d(_MaxPoolNd):
    """Max pooling over (N, C, D, H, W)."""

    d = 3


class _AvgPoolNd(Module):
    d = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if self.d == 1:
            return pooling.avg_pool1d(input, self.kernel_size, self.stride, self.padding,
                                      self.ceil_mode, self.count_include_pad)
        fn = getattr(pooling, f"avg_pool{self.d}d")
        return fn(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                  self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Average pooling over (N, C, L)."""

    d = 1


class AvgPool2d(_AvgPoolNd):
    """Average pooling over (N, C, H, W)."""

    d = 2


class AvgPool3d(_AvgPoolNd):
    """Average pooling over (N, C, D, H, W)."""

    d = 3


class _AdaptivePool(Module):
    d = 2
    kind = "avg"

    def __init__(self, output_size: Any, return_indices: bool = False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        if self.kind == "avg":
            return getattr(pooling, f"adaptive_avg_pool{self.d}d")(input, self.output_size)
        return getattr(pooling, f"adaptive_max_pool{self.d}d")(input, self.output_size,
                                                               self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool):
    """Adaptive average pooling over (N, C, L)."""

    d = 1


class AdaptiveAvgPool2d(_AdaptivePool):
    """Adaptive average pooling over (N, C, H, W)."""

    d = 2


class AdaptiveAvgPool3d(_AdaptivePool):
    """Adaptive average pooling over (N, C, D, H, W)."""

    d = 3


class AdaptiveMaxPool1d(_AdaptivePool):
    """Adaptive max pooling over (N, C, L)."""

    d, kind = 1, "max"


class AdaptiveMaxPool2d(_AdaptivePool):
    """Adaptive max pooling over (N, C, H, W)."""

    d, kind = 2, "max"


class MaxUnpool2d(Module):
    """Inverse of MaxPool2d given its indices."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, input: Tensor, indices: Tensor,  # noqa: A002
                output_size: Sequence[int] | None = None) -> Tensor:
        return pooling.max_unpool2d(input, indices, self.kernel_size, self.stride,
                                    self.padding, output_size)


class Upsample(Module):
    """Resize by ``size`` or ``scale_factor`` (:func:`zili.nn.resample.interpolate`)."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return resample.interpolate(input, self.size, self.scale_factor, self.mode,
                                    self.align_corners, self.recompute_scale_factor)

    def extra_repr(self) -> str:
        return f"size={self.size}, scale_factor={self.scale_factor}, mode={self.mode!r}"


class Flatten(Module):
    """Merge axes ``start_dim``..``end_dim`` (by default all but the batch axis)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size``."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.unflatten(self.dim, self.unflattened_size)


class Unfold(Module):
    """im2col (:func:`zili.nn.conv.unfold`)."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1):
        super().__init__()
        self.args = (kernel_size, dilation, padding, stride)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return conv.unfold(input, *self.args)


class Fold(Module):
    """col2im (:func:`zili.nn.conv.fold`)."""

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1):
        super().__init__()
        self.args = (output_size, kernel_size, dilation, padding, stride)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return conv.fold(input, *self.args)
