"""Activation modules: one ``zili.nn`` module per activation of ``torch.nn.functional``, with
PyTorch's constructor arguments, ``extra_repr`` and ``inplace=`` (the result is written back
into the input's memory, as PyTorch's in-place activations do)."""

from __future__ import annotations

from typing import Any

from zili.errors import ArgumentError, ShapeError
from zili.nn import functional as F
from zili.nn.module import Module, Parameter
from zili.tensor import Tensor, full


def _legacy_softmax_dim(ndim: int) -> int:
    """PyTorch's implicit dim for Softmax(dim=None): 0 for 0-, 1- and 3-d inputs, else 1."""
    return 0 if ndim in (0, 1, 3) else 1


class _Activation(Module):
    """An elementwise activation ``_fn`` with optional ``inplace``; subclasses name the
    constructor arguments that ``extra_repr`` shows."""

    _repr_args: tuple[str, ...] = ()

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        out = self._fn(input)
        return input.copy_(out) if self.inplace else out

    def extra_repr(self) -> str:
        parts = [f"{name}={getattr(self, name)!r}" for name in self._repr_args]
        if self.inplace:
            parts.append("inplace=True")
        return ", ".join(parts)


class ReLU(_Activation):
    """max(x, 0)."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.relu(input)


class LeakyReLU(_Activation):
    """x for x > 0, ``negative_slope`` * x otherwise."""

    _repr_args = ("negative_slope",)

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.leaky_relu(input, self.negative_slope)


class ELU(_Activation):
    """x for x > 0, alpha (exp(x) - 1) otherwise."""

    _repr_args = ("alpha",)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        self.alpha = alpha

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.elu(input, self.alpha)


class CELU(ELU):
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1))."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.celu(input, self.alpha)


class SELU(_Activation):
    """scale * elu(x, alpha) with the self-normalising constants."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.selu(input)


class GELU(Module):
    """x Phi(x), exact or ``approximate='tanh'``."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Hardsigmoid(_Activation):
    """relu6(x + 3) / 6."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.hardsigmoid(input)


class Hardswish(_Activation):
    """x relu6(x + 3) / 6."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.hardswish(input)


class Hardtanh(_Activation):
    """clamp(x, min_val, max_val) (``min_value``/``max_value`` are PyTorch's old names).

    Raises:
        ArgumentError: if max_val < min_val.
    """

    _repr_args = ("min_val", "max_val")

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None):
        super().__init__(inplace)
        self.min_val = float(min_value if min_value is not None else min_val)
        self.max_val = float(max_value if max_value is not None else max_val)
        if self.max_val < self.min_val:
            raise ArgumentError(f"Hardtanh: max_val={self.max_val} is below "
                                f"min_val={self.min_val}")

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.hardtanh(input, self.min_val, self.max_val)


class ReLU6(Hardtanh):
    """min(max(x, 0), 6)."""

    _repr_args = ()

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)


class Mish(_Activation):
    """x tanh(softplus(x))."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.mish(input)


class SiLU(_Activation):
    """x sigmoid(x)."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.silu(input)


class RReLU(_Activation):
    """Randomised leaky ReLU: a random slope in [lower, upper] per element while training,
    (lower + upper) / 2 in evaluation."""

    _repr_args = ("lower", "upper")

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__(inplace)
        self.lower, self.upper = lower, upper

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.rrelu(input, self.lower, self.upper, self.training)


class Threshold(_Activation):
    """x where x > threshold, else ``value``."""

    _repr_args = ("threshold", "value")

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__(inplace)
        self.threshold, self.value = threshold, value

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.threshold(input, self.threshold, self.value)


class _Plain(Module):
    """An activation without arguments."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return self._fn(input)

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        raise NotImplementedError


class Sigmoid(_Plain):
    """1 / (1 + exp(-x))."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.sigmoid()


class Tanh(_Plain):
    """Hyperbolic tangent."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.tanh()


class Softsign(_Plain):
    """x / (1 + |x|)."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softsign(input)


class LogSigmoid(_Plain):
    """log(sigmoid(x))."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.logsigmoid(input)


class Tanhshrink(_Plain):
    """x - tanh(x)."""

    def _fn(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.tanhshrink(input)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear above ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta!r}, threshold={self.threshold!r}"


class Hardshrink(Module):
    """x where |x| > lambd, else 0."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softshrink(input, self.lambd)


class GLU(Module):
    """a sigmoid(b) for the two halves a, b of ``dim``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """x for x > 0, weight x otherwise; ``weight`` is a Parameter of ``num_parameters``
    entries (1, or the channel count of axis 1) initialised to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None,
                 dtype: Any = None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(full((num_parameters,), init, device=device, dtype=dtype))

    def reset_parameters(self) -> None:
        """Fill the weight with ``init`` again."""
        self.weight.data.fill_(self.init)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Softmax(Module):
    """softmax along ``dim`` (None: PyTorch's implicit choice, 0 for 0/1/3-d inputs, else 1)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def _dim(self, input: Tensor) -> int:  # noqa: A002
        return _legacy_softmax_dim(input.ndim) if self.dim is None else self.dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.softmax(self._dim(input))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log_softmax along ``dim`` (None as in :class:`Softmax`)."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.log_softmax(self._dim(input))


class Softmin(Softmax):
    """softmax(-x) along ``dim`` (None as in :class:`Softmax`)."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softmin(input, self._dim(input))


class Softmax2d(Module):
    """softmax over the channels (axis -3) of (N, C, H, W) or (C, H, W) inputs.

    Raises:
        ShapeError: for inputs with other than 3 or 4 axes.
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if input.ndim not in (3, 4):
            raise ShapeError(f"Softmax2d: expects a 3-d or 4-d input, got shape {input.shape}")
        return input.softmax(-3)
