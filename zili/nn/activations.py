"""The activations of ``torch.nn.functional`` beyond relu/gelu/silu/sigmoid/tanh/softplus,
each a short composition of tensor operations (gradients come from the primitives; at the
kinks they follow PyTorch's choice of one-sided derivative)."""

from __future__ import annotations

import warnings
from typing import Any

from zili import dtype as dtypes
from zili.errors import ShapeError
from zili.tensor import Tensor, rand

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def inplace_source(input: Tensor, inplace: bool) -> Tensor:  # noqa: A002
    """What an activation computes from: ``input`` itself, or for ``inplace=True`` on a tensor
    that requires grad a clone of it, so that the values autograd saves are not the ones the
    write-back then overwrites (a leaf that requires grad is refused by the write itself)."""
    if inplace and input.requires_grad and not input.is_leaf:
        return input.clone()
    return input


def written_back(input: Tensor, result: Tensor, inplace: bool) -> Tensor:  # noqa: A002
    """``result``, or with ``inplace`` the ``input`` holding it: PyTorch's ``inplace=True``
    writes the activation into its argument (through ``copy_``: views of the input see it,
    its version counter moves, and autograd refuses a leaf that requires grad, as PyTorch).
    """
    return input.copy_(result) if inplace else result


def _expm1(x: Tensor) -> Tensor:
    """exp(x) - 1 (as exp then subtract; fine away from tiny |x|, where ELU's branch is x)."""
    return x.exp() - 1.0


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val) with gradient 1 strictly inside, 0 outside (as PyTorch)."""
    source = inplace_source(input, inplace)
    inside = (source > min_val) & (source < max_val)
    result = inside._where(source, (source <= min_val)._where(min_val, max_val).to(source.dtype))
    return written_back(input, result, inplace)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """relu6(x + 3) / 6."""
    source = inplace_source(input, inplace)
    return written_back(input, hardtanh(source + 3.0, 0.0, 6.0) / 6.0, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * relu6(x + 3) / 6; PyTorch's gradient at x = +-3 takes the inner branch."""
    source = inplace_source(input, inplace)
    inner = source * (source + 3.0) * (1.0 / 6.0)
    result = (source <= -3.0)._where(0.0, (source >= 3.0)._where(source, inner))
    return written_back(input, result, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01,  # noqa: A002
               inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    source = inplace_source(input, inplace)
    return written_back(input, (source > 0)._where(source, source * negative_slope), inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    source = inplace_source(input, inplace)
    negative = (source > 0)._where(0.0, source)  # no exp overflow on the unused branch
    return written_back(input, (source > 0)._where(source, _expm1(negative) * alpha), inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """scale * elu(x, alpha) with the self-normalising constants."""
    source = inplace_source(input, inplace)
    return written_back(input, elu(source, SELU_ALPHA) * SELU_SCALE, inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    source = inplace_source(input, inplace)
    negative = (source > 0)._where(0.0, source)
    result = (source > 0)._where(source, _expm1(negative * (1.0 / alpha)) * alpha)
    return written_back(input, result, inplace)


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)), stable for large |x|."""
    negative = input < 0
    # -|x| written as a select so that the derivative at 0 is PyTorch's 1/2
    return negative._where(input, 0.0) - (negative._where(input, -input).exp() + 1.0).log()


def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """x / (1 + |x|)."""
    return input / (input.abs() + 1.0)


def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * tanh(softplus(x))."""
    source = inplace_source(input, inplace)
    soft = source.relu() + ((-source.abs()).exp() + 1.0).log()  # softplus, stable
    return written_back(input, source * (source > 20.0)._where(source, soft).tanh(), inplace)


def tanhshrink(input: Tensor) -> Tensor:  # noqa: A002
    """x - tanh(x)."""
    return input - input.tanh()


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    return (input > lambd)._where(input - lambd, (input < -lambd)._where(input + lambd, 0.0))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """x where |x| > lambd, else 0."""
    return ((input > lambd) | (input < -lambd))._where(input, 0.0)


def threshold(input: Tensor, threshold: float, value: float,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value``."""
    source = inplace_source(input, inplace)
    return written_back(input, (source > threshold)._where(source, value), inplace)


def glu(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """a * sigmoid(b) for the two halves a, b of ``dim``.

    Raises:
        ShapeError: if the axis has an odd size.
    """
    size = input.shape[input._axis(dim)]
    if size % 2:
        raise ShapeError(f"glu: halving dimension {dim} needs an even size, got shape "
                         f"{input.shape}")
    a, b = input.split(size // 2, dim)
    return a * b.sigmoid()


def prelu(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    """x for x > 0, weight * x otherwise; ``weight`` has 1 or C (axis 1) entries.

    Raises:
        ShapeError: if weight has neither 1 nor C entries.
    """
    if weight.numel() != 1:
        channels = input.shape[1] if input.ndim > 1 else input.shape[0]
        if weight.numel() != channels:
            raise ShapeError(f"prelu: weight of {weight.numel()} entries does not match "
                             f"{channels} channels of input shape {input.shape}")
        if input.ndim > 1:
            weight = weight.reshape((1, channels) + (1,) * (input.ndim - 2))
    elif input.ndim:
        weight = weight.reshape((1,) * input.ndim)
    else:
        weight = weight.reshape(())
    return (input > 0)._where(input, input * weight)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,  # noqa: A002
          training: bool = False, inplace: bool = False) -> Tensor:
    """Randomised leaky ReLU; in evaluation the slope is (lower + upper) / 2. Training draws
    a slope per element from zili's generator."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    source = inplace_source(input, inplace)
    slope = rand(source.shape, dtype=source.dtype, device=source.device) * (upper - lower) + lower
    return written_back(input, (source >= 0)._where(source, source * slope), inplace)


def implicit_softmax_dim(op: str, dim: int | None, ndim: int, stacklevel: int) -> int:
    """``dim``, or for None PyTorch's deprecated implicit choice (0 for 0-, 1- and 3-d
    inputs, else 1) with PyTorch's warning."""
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated (as in PyTorch). "
                  "Change the call to include dim=X as an argument.", UserWarning,
                  stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
            dtype: Any = None) -> Tensor:
    """softmax(-x) along ``dim`` (None: PyTorch's implicit choice, with its warning),
    computed in ``dtype`` when given (the input is cast first, as PyTorch)."""
    x = input.to(dtypes.to_dtype(dtype)) if dtype is not None else input
    return (-x).softmax(implicit_softmax_dim("softmin", dim, input.ndim, _stacklevel))
