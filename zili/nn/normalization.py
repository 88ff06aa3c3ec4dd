"""Batch, group and instance normalisation as in ``torch.nn.functional``, composed of
tensor operations (so of primitives) for any number of spatial axes."""

from __future__ import annotations

from zili.errors import ShapeError
from zili.tensor import Tensor, no_grad


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(input: Tensor, running_mean: Tensor | None,  # noqa: A002
               running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise each channel (axis 1) of (N, C, *spatial) by its batch statistics when
    ``training`` (then update the running statistics in place: mean, and the unbiased
    variance, with ``momentum``) or by the running statistics otherwise, as PyTorch.

    Raises:
        ShapeError: for an input with fewer than 2 axes, statistics of the wrong size, or
            a single value per channel while training.
    """
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected (N, C, ...) input, got shape {input.shape}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ShapeError(f"batch_norm: {name} of shape {t.shape} does not match "
                             f"{channels} channels of input shape {input.shape}")
    shape = _channel_shape(input)
    axes = (0,) + tuple(range(2, input.ndim))
    if training:
        count = input.numel() // max(channels, 1)
        if count <= 1:
            raise ShapeError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {input.shape}")
        mean = input.mean(axes, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(axes, keepdim=True)
        if running_mean is not None and running_var is not None:
            with no_grad():
                unbiased = var.detach().reshape(channels) * (count / (count - 1))
                running_mean.copy_(running_mean * (1 - momentum)
                                   + mean.detach().reshape(channels) * momentum)
                running_var.copy_(running_var * (1 - momentum) + unbiased * momentum)
        out = centered * (var + eps).rsqrt()
    else:
        if running_mean is None or running_var is None:
            raise ShapeError("batch_norm: evaluation needs running_mean and running_var")
        out = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    return out + bias.reshape(shape) if bias is not None else out


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise (N, C, *spatial) over each group of C/num_groups channels and the spatial
    axes (biased variance), then scale and shift per channel, as PyTorch.

    Raises:
        ShapeError: if ``num_groups`` does not divide the channels.
    """
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ShapeError(f"group_norm: {num_groups} groups must divide the channels of input "
                         f"shape {input.shape}")
    n, c = input.shape[:2]
    grouped = input.reshape(n, num_groups, -1) if input.numel() else input
    mean = grouped.mean(-1, keepdim=True)
    centered = grouped - mean
    var = (centered * centered).mean(-1, keepdim=True)
    out = (centered * (var + eps).rsqrt()).reshape(input.shape)
    shape = _channel_shape(input)
    if weight is not None:
        out = out * weight.reshape(shape)
    return out + bias.reshape(shape) if bias is not None else out


def instance_norm(input: Tensor, running_mean: Tensor | None = None,  # noqa: A002
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each (sample, channel) plane over its spatial axes, as PyTorch (running
    statistics are not supported: pass none and keep ``use_input_stats``).

    Raises:
        ValueError: when running statistics are requested.
    """
    if running_mean is not None or running_var is not None or not use_input_stats:
        raise ValueError("instance_norm: running statistics are not supported by zili")
    return group_norm(input, input.shape[1], weight, bias, eps)

