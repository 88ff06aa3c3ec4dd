"""Batch, group and instance normalisation layers, as in ``torch.nn``."""

from __future__ import annotations

from typing import Any

from zili import dtype as dtypes
from zili.errors import ShapeError
from zili.nn import init, normalization
from zili.nn.module import Module, Parameter
from zili.tensor import Tensor, empty, no_grad, ones, tensor, zeros


class _BatchNorm(Module):
    dims: tuple[int, ...] = (2, 3)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = dtype or dtypes.default_float
        if affine:
            self.weight = Parameter(init.ones_(empty((num_features,), dtype=dtype,
                                                     device=device)))
            self.bias = Parameter(init.zeros_(empty((num_features,), dtype=dtype,
                                                    device=device)))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=dtypes.int64,
                                                               device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, variance 1, no batches seen."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if input.ndim not in self.dims:
            raise ShapeError(f"{type(self).__name__}: expected a {' or '.join(map(str, self.dims))}"
                             f"-d input, got shape {input.shape}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as PyTorch
                momentum = 1.0 / float(self.num_batches_tracked.item())
        use_batch = self.training or not self.track_running_stats
        tracked = self.training or not use_batch
        return normalization.batch_norm(
            input, self.running_mean if tracked else None,
            self.running_var if tracked else None, self.weight, self.bias, use_batch,
            momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L)."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W)."""

    dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W)."""

    dims = (5,)


class GroupNorm(Module):
    """Group normalisation: ``num_groups`` groups of channels (affine weight 1, bias 0)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups {num_groups} must divide num_channels "
                             f"{num_channels}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, \
            eps, affine
        dtype = dtype or dtypes.default_float
        if affine:
            self.weight = Parameter(init.ones_(empty((num_channels,), dtype=dtype,
                                                     device=device)))
            self.bias = Parameter(init.zeros_(empty((num_channels,), dtype=dtype,
                                                    device=device)))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return normalization.group_norm(input, self.num_groups, self.weight, self.bias,
                                        self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
