"""Backward rules for the primitives. Each class is one primitive: ``forward`` runs it on the
device, ``backward`` expresses its vector-Jacobian product in primitives again."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zili.dtype import DType, bool_
from zili.ops import Op
from zili.tensor.autograd import Function, set_grad_enabled

if TYPE_CHECKING:
    from zili.tensor.tensor import Tensor

LN2 = math.log(2.0)
_COMPARISONS = (Op.CMPLT, Op.CMPEQ)  # module constants: Op.X costs ~0.2 us per lookup


def _run(op: Op, shape: tuple[int, ...], dtype: DType, inputs: tuple[Tensor, ...],
         arg: Any = None) -> Tensor:
    """Run one primitive without a graph: :func:`zili.tensor.tensor.execute`, which the
    tensor module binds here with :func:`use_executor` when it is imported."""
    raise RuntimeError("zili.tensor.functions: no executor; import zili.tensor first")


def use_executor(execute: Callable[..., Tensor]) -> None:
    """Bind ``_run`` to the tensor module's ``execute`` (an import inside ``_run`` cost
    ~5 us per primitive: the tensor layer sits above this module)."""
    global _run
    _run = execute


class Unary(Function):
    op: Op

    def forward(self, x: Tensor) -> Tensor:
        self.saved = x
        out = _run(self.op, x.shape, x.dtype, (x,))
        return out


class Neg(Unary):
    op = Op.NEG

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (-grad,)


class Exp2(Function):
    def saved_tensors(self) -> tuple[Tensor, ...]:
        return (self.saved,)

    def forward(self, x: Tensor) -> Tensor:
        self.saved = _run(Op.EXP2, x.shape, x.dtype, (x,))
        return self.saved

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad * self.saved * LN2,)


class Log2(Unary):
    op = Op.LOG2

    def saved_tensors(self) -> tuple[Tensor, ...]:
        return (self.saved,)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad / (self.saved * LN2),)


def cos_value(x: Tensor) -> Tensor:
    """cos(x) = 1 - 2 sin(x/2)**2 from the SIN primitive, accurate at every |x|: x/2 is
    exact, while sin(x + pi/2) rounds x + pi/2 and is off by ~5% near |x| = 1e4 in float32.
    Records no graph (callers are forward/backward rules)."""
    half = _run(Op.SIN, x.shape, x.dtype, (x * 0.5,))
    return 1.0 - 2.0 * (half * half)


class Sin(Unary):
    op = Op.SIN

    def saved_tensors(self) -> tuple[Tensor, ...]:
        return (self.saved,)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad * cos_value(self.saved),)


class Cos(Function):
    """cos(x) (a composite of SIN with an exact argument halving), d/dx = -sin(x)."""

    def forward(self, x: Tensor) -> Tensor:
        self.saved = x
        with set_grad_enabled(False):
            return cos_value(x)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (-(grad * _run(Op.SIN, self.saved.shape, self.saved.dtype, (self.saved,))),)


class Sqrt(Function):
    def saved_tensors(self) -> tuple[Tensor, ...]:
        return (self.saved,)

    def forward(self, x: Tensor) -> Tensor:
        self.saved = _run(Op.SQRT, x.shape, x.dtype, (x,))
        return self.saved

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad / (self.saved * 2),)


class Reciprocal(Function):
    def saved_tensors(self) -> tuple[Tensor, ...]:
        return (self.saved,)

    def forward(self, x: Tensor) -> Tensor:
        self.saved = _run(Op.RECIPROCAL, x.shape, x.dtype, (x,))
        return self.saved

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (-(grad * self.saved * self.saved),)


class Cast(Function):
    def forward(self, x: Tensor, dtype: DType) -> Tensor:
        self.saved = x.dtype
        return _run(Op.CAST, x.shape, dtype, (x,), dtype)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad.to(self.saved) if self.saved.is_floating_point else None,)


class Copy(Function):
    def forward(self, x: Tensor) -> Tensor:
        return _run(Op.COPY, x.shape, x.dtype, (x,))

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad,)


class Binary(Function):
    op: Op

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        self.saved = (a, b)
        dtype = bool_ if self.op in _COMPARISONS else a.dtype
        return _run(self.op, a.shape, dtype, (a, b))

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (None, None)


class Add(Binary):
    op = Op.ADD

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad, grad)


class Sub(Binary):
    op = Op.SUB

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad, -grad if self.needs[1] else None)


class Mul(Binary):
    op = Op.MUL

    def saved_tensors(self) -> tuple[Tensor, ...]:
        a, b = self.saved
        return ((b,) if self.needs[0] else ()) + ((a,) if self.needs[1] else ())

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        a, b = self.saved
        return (grad * b if self.needs[0] else None, grad * a if self.needs[1] else None)


class Div(Binary):
    op = Op.DIV

    def saved_tensors(self) -> tuple[Tensor, ...]:
        a, b = self.saved
        return (b, a) if self.needs[1] else (b,)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        a, b = self.saved
        grad_a = grad / b
        return (grad_a, -(grad_a * a / b) if self.needs[1] else None)


class Maximum(Binary):
    op = Op.MAX

    def saved_tensors(self) -> tuple[Tensor, ...]:
        return self.saved

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        # Ties split the gradient evenly, as PyTorch's maximum does.
        a, b = self.saved
        share = (a > b).to(grad.dtype) + (a == b).to(grad.dtype) * 0.5
        return (grad * share, grad * (1.0 - share))


class NoGradBinary(Binary):
    """Comparisons, bitwise ops and MOD: piecewise constant, so no gradient flows."""


class Where(Function):
    def saved_tensors(self) -> tuple[Tensor, ...]:
        return (self.saved,)

    def forward(self, condition: Tensor, a: Tensor, b: Tensor) -> Tensor:
        self.saved = condition
        return _run(Op.WHERE, a.shape, a.dtype, (condition, a, b))

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        zero = grad.zeros_like_scalar()
        # only the branches that need a gradient (relu's other branch is a constant 0)
        return (None, self.saved._where(grad, zero) if self.needs[1] else None,
                self.saved._where(zero, grad) if self.needs[2] else None)


class Sum(Function):
    def forward(self, x: Tensor, axes: tuple[int, ...]) -> Tensor:
        self.saved = x.shape
        shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
        return _run(Op.SUM, shape, x.dtype, (x,), axes)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad.expand(self.saved),)


class Amax(Function):
    def saved_tensors(self) -> tuple[Tensor, ...]:
        return self.saved[:2]

    def forward(self, x: Tensor, axes: tuple[int, ...]) -> Tensor:
        shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
        out = _run(Op.AMAX, shape, x.dtype, (x,), axes)
        self.saved = (x, out, axes)
        return out

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        # Ties share the gradient evenly, as PyTorch's amax does.
        x, out, axes = self.saved
        hit = (x == out.expand(x.shape)).to(grad.dtype)
        count = hit.sum(axes, keepdim=True)
        return ((grad / count).expand(x.shape) * hit,)


class Reshape(Function):
    def forward(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        self.saved = x.shape
        return x._reshape_view(shape)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad.reshape(self.saved),)


class Permute(Function):
    def forward(self, x: Tensor, order: tuple[int, ...]) -> Tensor:
        self.saved = order
        return x._with_view(x._view.permute(order))

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        inverse = tuple(sorted(range(len(self.saved)), key=self.saved.__getitem__))
        return (grad.permute(inverse),)


class Expand(Function):
    """Broadcast to ``shape``; new leading axes are added here too (one node, not two)."""

    def forward(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        self.saved = x.shape
        view = x._view
        if len(shape) != x.ndim:
            view = view.reshape((1,) * (len(shape) - x.ndim) + x.shape)
            assert view is not None  # adding size-1 axes never needs a copy
        return x._with_view(view.expand(shape))

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        lead = grad.ndim - len(self.saved)
        padded = (1,) * lead + self.saved
        axes = tuple(i for i, (a, b) in enumerate(zip(padded, grad.shape)) if a != b)
        out = grad.sum(axes, keepdim=True) if axes else grad
        return (out.reshape(self.saved) if lead else out,)


class Shrink(Function):
    def forward(self, x: Tensor, bounds: tuple[tuple[int, int], ...]) -> Tensor:
        self.saved = (x.shape, bounds)
        return x._with_view(x._view.shrink(bounds))

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        shape, bounds = self.saved
        return (grad.pad_axes(tuple((b, s - e) for s, (b, e) in zip(shape, bounds))),)


class Pad(Function):
    def forward(self, x: Tensor, padding: tuple[tuple[int, int], ...]) -> Tensor:
        self.saved = (x.shape, padding)
        return x._borrowed(x._view.pad(padding))  # a copy in PyTorch

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        shape, padding = self.saved
        return (grad.shrink(tuple((lo, lo + s) for s, (lo, _) in zip(shape, padding))),)


class Flip(Function):
    def forward(self, x: Tensor, axes: tuple[int, ...]) -> Tensor:
        self.saved = axes
        return x._borrowed(x._view.flip(axes))  # a copy in PyTorch

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (grad.flip(self.saved),)


class Matmul(Function):
    def saved_tensors(self) -> tuple[Tensor, ...]:
        a, b = self.saved
        return ((b,) if self.needs[0] else ()) + ((a,) if self.needs[1] else ())

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        self.saved = (a, b)
        return _run(Op.MATMUL, a.shape[:-1] + b.shape[-1:], a.dtype, (a, b))

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        a, b = self.saved
        grad_a = grad.matmul(b.transpose(-1, -2)) if self.needs[0] else None
        grad_b = None
        if self.needs[1]:
            if _transposed(b):  # b = W.T (a linear layer): write dW in W's own layout
                grad_b = grad.transpose(-1, -2).matmul(a).transpose(-1, -2)
            else:
                grad_b = a.transpose(-1, -2).matmul(grad)
        return (grad_a, grad_b)


def _transposed(t: Tensor) -> bool:
    """Whether ``t`` is a matrix (or a batch of them) whose last two axes are a transposed
    contiguous buffer. Its gradient is then computed transposed, as the product
    grad^T @ a, so that the gradient of the underlying tensor comes out contiguous: the
    optimizer's and clipping's kernels then read it in order (one vectorized flat loop)
    instead of across rows."""
    view = t._view
    if len(view.shape) < 2 or view.mask is not None or view.shape[-1] == 1:
        return False
    rows, cols = view.shape[-2:]
    return view.strides[-2] == 1 and view.strides[-1] == rows and rows > 1


class Gather(Function):
    def saved_tensors(self) -> tuple[Tensor, ...]:
        return (self.saved[1],)

    def forward(self, x: Tensor, index: Tensor, axis: int) -> Tensor:
        self.saved = (x.shape, index, axis)
        return _run(Op.GATHER, index.shape, x.dtype, (x, index), axis)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        shape, index, axis = self.saved
        return (_run(Op.SCATTER_ADD, shape, grad.dtype, (index, grad), axis), None)


class ScatterAdd(Function):
    def saved_tensors(self) -> tuple[Tensor, ...]:
        return (self.saved[0],)

    def forward(self, index: Tensor, source: Tensor, axis: int,
                shape: tuple[int, ...]) -> Tensor:
        self.saved = (index, axis)
        return _run(Op.SCATTER_ADD, shape, source.dtype, (index, source), axis)

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        index, axis = self.saved
        return (None, _run(Op.GATHER, index.shape, grad.dtype, (grad, index), axis))


BINARY_FUNCTIONS: dict[Op, type[Binary]] = {
    Op.ADD: Add, Op.SUB: Sub, Op.MUL: Mul, Op.DIV: Div, Op.MAX: Maximum,
}
for _op in (Op.MOD, Op.CMPLT, Op.CMPEQ, Op.AND, Op.OR, Op.XOR):
    BINARY_FUNCTIONS[_op] = type(f"NoGrad_{_op.value}", (NoGradBinary,), {"op": _op})
