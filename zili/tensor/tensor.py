"""``zili.Tensor``: a view onto a device buffer, with PyTorch's operators and autograd.

Every operation here ends in a primitive (``zili.ops``): elementwise and reduction work runs
on the tensor's device through :func:`execute`; movement only changes the View. Dtype
promotion and broadcasting happen here, once, so devices see operands that already agree.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from zili import dtype as dtypes
from zili.compiler import capture
from zili.devices import Device, get_device
from zili.dtype import DType
from zili.errors import ShapeError
from zili.ops import Op, elementwise_result
from zili.ops.view import View, contiguous_view
from zili.tensor import functions as F
from zili.tensor import inplace
from zili.tensor.autograd import grad_mode, register_post_accumulate_grad_hook, run_backward
from zili.tensor.composite import CompositeOps
from zili.tensor.conversion import ConversionOps, Scalar
from zili.tensor.elementwise import ElementwiseOps
from zili.tensor.inplace_ops import InplaceOps
from zili.tensor.math_ops import MathOps
from zili.tensor.movement import MovementOps
from zili.tensor.reduce import ReduceOps
from zili.tensor.selection import SelectionOps
from zili.tensor.special import SpecialOps
from zili.tensor.storage import Storage, VersionCounter
from zili.tensor.surface import SurfaceOps

ShapeLike = int | Sequence[int]


def execute(op: Op, shape: tuple[int, ...], dtype: DType, inputs: Sequence[Tensor],
            arg: Any = None, device: Device | None = None) -> Tensor:
    """Run one primitive on the inputs' device and wrap the result (no autograd)."""
    if capture.TRACING:  # zili.jit is tracing: record the primitive instead of running it
        return capture.TRACING[-1].record(op, shape, dtype, inputs, arg, device, Tensor)
    device = device or inputs[0].device
    for t in inputs:
        if t.device is not device:
            raise RuntimeError(f"{op.value}: tensors are on different devices "
                               f"({[x.device.name for x in inputs]}); move them with .to()")
    buffer = device.execute(op, shape, dtype, [(t._storage.buffer, t._view, t.dtype)
                                               for t in inputs], arg)
    return Tensor._make(buffer, contiguous_view(shape), dtype, device)


F.use_executor(execute)


def broadcast_shape(*shapes: tuple[int, ...], op: str = "broadcast") -> tuple[int, ...]:
    """The shape NumPy/PyTorch broadcasting gives ``shapes``.

    Raises:
        ValueError: naming the operation and the shapes when they do not broadcast.
    """
    first = shapes[0]
    for s in shapes:
        if s != first:
            break
    else:
        return tuple(first)  # all equal (the common case)
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(ndim):
        sizes = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise ShapeError(f"{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} do "
                             f"not broadcast (axis {axis - ndim}); sizes must match or be 1")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


class Tensor(ElementwiseOps, MovementOps, ReduceOps, CompositeOps, MathOps, SelectionOps,
             SpecialOps, SurfaceOps, InplaceOps, ConversionOps):
    """An n-dimensional array on a device, recording operations for ``backward()``."""

    # _storage: the buffer shared with every view; _vc: the version counter shared with
    # every view; _base: the tensor this one is a view of (None for a base); _generation:
    # the storage's autograd generation when this tensor's record was made.
    __slots__ = ("_storage", "_vc", "_base", "_generation", "_view", "dtype", "device",
                 "requires_grad", "grad", "_ctx", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # so `ndarray * Tensor` defers to Tensor.__rmul__

    @staticmethod
    def _make(buffer: Any, view: View, dtype: DType, device: Device) -> Tensor:
        """A new base tensor owning ``buffer`` (a new storage and version counter)."""
        t = Tensor.__new__(Tensor)
        t._storage, t._vc, t._base, t._generation = Storage(buffer), VersionCounter(), None, 0
        t._view, t.dtype, t.device = view, dtype, device
        t.requires_grad, t.grad, t._ctx, t._retains_grad = False, None, None, False
        return t

    def _share(self, view: View, base: Tensor | None, counter: VersionCounter) -> Tensor:
        """A tensor over this one's storage (no autograd record)."""
        t = Tensor.__new__(Tensor)
        t._storage, t._vc, t._base = self._storage, counter, base
        t._generation = self._storage.generation
        t._view, t.dtype, t.device = view, self.dtype, self.device
        t.requires_grad, t.grad, t._ctx, t._retains_grad = False, None, None, False
        return t

    @property
    def buffer(self) -> Any:
        """The device buffer this tensor (and every view sharing its storage) reads."""
        return self._storage.buffer

    @buffer.setter
    def buffer(self, value: Any) -> None:
        # Rebinding (like `t.data = ...`): this tensor alone gets new memory; its former
        # views keep the old. Code that means to change what every view reads sets
        # `t._storage.buffer` (zili.jit does).
        self._storage, self._base, self._generation = Storage(value), None, 0

    @property
    def _version(self) -> int:
        """How many in-place writes the memory behind this tensor has seen (PyTorch's)."""
        return self._vc.value

    def __init__(self, data: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False):
        from zili.tensor.creation import tensor
        made = tensor(data, dtype=dtype, device=device)
        self._storage, self._vc, self._base, self._generation = made._storage, made._vc, None, 0
        self._view, self.dtype, self.device = made._view, made.dtype, made.device
        self.grad, self._ctx, self._retains_grad = None, None, False
        self.requires_grad = requires_grad

    # --- basic properties -----------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of every axis."""
        return self._view.shape

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return len(self._view.shape)

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a recorded operation."""
        return self._ctx is None

    @property
    def T(self) -> Tensor:  # noqa: N802 (PyTorch's name)
        """All axes reversed."""
        return self.permute(tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:  # noqa: N802
        """The last two axes swapped."""
        return self.transpose(-1, -2)

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the size of axis ``dim``."""
        return self.shape if dim is None else self.shape[self._axis(dim)]

    def dim(self) -> int:
        """Number of axes."""
        return self.ndim

    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    def element_size(self) -> int:
        """Bytes per element."""
        return self.dtype.itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.detach().numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype!r}, device={self.device.name!r}{grad})"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"bool of a tensor with {self.numel()} elements is ambiguous; "
                               "use .any() or .all()")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point:
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self.item())

    def __getitem__(self, index: Any) -> Tensor:
        from zili.tensor.indexing import getitem
        return getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        from zili.tensor.indexing import setitem
        setitem(self, index, value)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        """out[..i..] = self[..index[..i..]..] along ``dim`` (torch.gather).

        Raises:
            ValueError: if ``index`` has another number of axes or is larger off ``dim``.
        """
        dtypes.check_supported("gather", self.dtype)
        axis = self._axis(dim)
        if index.ndim != self.ndim or any(i > s for d, (i, s) in
                                          enumerate(zip(index.shape, self.shape)) if d != axis):
            raise ShapeError(f"gather: index of shape {index.shape} does not fit input of "
                             f"shape {self.shape} along dim {dim}")
        if index.dtype is dtypes.int32:
            index = index.to(dtypes.int64)  # PyTorch accepts int32 indices too
        if index.dtype is not dtypes.int64:
            raise TypeError(f"gather: index must be int64 or int32, got {index.dtype.name}")
        return F.Gather.apply(self, index, axis=axis)

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        """Slices along ``dim`` picked by the 1-D ``index``."""
        from zili.tensor.indexing import index_select
        dtypes.check_supported("index_select", self.dtype)
        return index_select(self, dim, index)

    def scatter_add(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
        """self plus ``source`` added at ``index`` along ``dim`` (torch.scatter_add)."""
        dtypes.check_supported("scatter_add", self.dtype)
        axis = self._axis(dim)
        return self + F.ScatterAdd.apply(index, source.to(self.dtype), axis=axis,
                                         shape=self.shape)

    # --- autograd -------------------------------------------------------------------------

    def backward(self, gradient: Tensor | None = None, retain_graph: bool = False) -> None:
        """Accumulate gradients of this tensor into ``.grad`` of every leaf behind it.

        Raises:
            RuntimeError: if no gradient is given for a tensor with more than one element, or
                the tensor does not require grad.
        """
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for scalar "
                                   f"outputs, this one has shape {self.shape}; pass gradient=")
            gradient = self.ones_like_scalar().expand(self.shape)
        run_backward(self, gradient, retain_graph)

    def detach(self) -> Tensor:
        """The same memory and version counter, cut from the graph (writes to one are seen
        by the other, and by autograd's checks)."""
        return self._share(self._view, None, self._vc)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(f"requires_grad_: only floating-point tensors can require "
                               f"gradients, this one is {self.dtype.name}")
        self.requires_grad = requires_grad
        return self

    def register_post_accumulate_grad_hook(self, hook: Any) -> Any:
        """Call ``hook(self)`` after backward accumulated ``self.grad`` (a leaf); returns a
        handle with ``remove()``.

        Raises:
            RuntimeError: this tensor is not a leaf that requires grad.
        """
        return register_post_accumulate_grad_hook(self, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retains_grad = True
        if self._ctx is not None:
            self._ctx.retained = weakref.ref(self)

    @property
    def data(self) -> Tensor:
        """The tensor detached from the graph: the same memory (writes through it change
        this tensor) with its own version counter, so autograd does not see them (PyTorch's
        ``.data``)."""
        return self._share(self._view, None, VersionCounter())

    @data.setter
    def data(self, value: Tensor) -> None:
        # PyTorch: `t.data = v` makes t use v's memory (no copy; shape and dtype may change).
        self._storage, self._view, self.dtype, self.device = value._storage, value._view, \
            value.dtype, value.device
        self._base, self._generation = None, value._storage.generation

    def _snapshot(self, *others: Any) -> Tensor:
        """The current value and record of ``self``, for an in-place op to compute its new
        value from. When autograd records, it is a copy: the op's backward may need the old
        values, which the write is about to overwrite."""
        if grad_mode.enabled and self._base is not None and \
                self._generation != self._storage.generation:
            self._refresh()
        t = self._share(self._view, self._base, self._vc)
        t.requires_grad, t._ctx = self.requires_grad, self._ctx
        if grad_mode.enabled and (self.requires_grad or any(
                getattr(o, "requires_grad", False) for o in others)):
            return F.Copy.apply(t)
        return t

    def _refresh(self) -> None:
        """Re-derive this view's autograd record from its base (written in place since)."""
        inplace.refresh(self)

    def _inplace(self, value: Any, op: str = "in-place") -> Tensor:
        """Write ``value`` into this tensor's memory (see :func:`zili.tensor.inplace.write`)."""
        return inplace.write(self, value, op)

    # --- conversion -----------------------------------------------------------------------

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Tensor:
        """A copy on another device and/or of another dtype (self when nothing changes)."""
        for a in args:
            if isinstance(a, (DType,)) or (isinstance(a, str) and a in _DTYPE_NAMES):
                dtype = a
            else:
                device = a
        out = self
        if device is not None:
            target = get_device(device)
            if target is not self.device:
                host = self.detach().numpy()
                out = Tensor._make(target.from_numpy(host), View(self.shape), self.dtype, target)
                if self.requires_grad:
                    out.requires_grad = True
        if dtype is not None:
            dtype = dtypes.to_dtype(dtype)
            if dtype is not out.dtype:
                out = F.Cast.apply(out, dtype=dtype)
        return out

    # --- helpers --------------------------------------------------------------------------

    def _borrowed(self, view: View) -> Tensor:
        """A new tensor reading this one's memory through ``view`` without sharing writes:
        what PyTorch's copying ops (flip, pad) give, without copying until a write."""
        t = Tensor._make(None, view, self.dtype, self.device)
        t._storage = self._storage.borrow()
        return t

    def _with_view(self, view: View) -> Tensor:
        """A view of this tensor's storage (same memory and version counter)."""
        return self._share(view, self._base if self._base is not None else self, self._vc)

    def _reshape_view(self, shape: tuple[int, ...]) -> Tensor:
        view = self._view.reshape(shape)
        if view is None:
            copied = execute(Op.COPY, self.shape, self.dtype, (self,))
            view = copied._view.reshape(shape)
            assert view is not None
            return copied._with_view(view)
        return self._with_view(view)

    def _axis(self, axis: int, ndim: int | None = None) -> int:
        ndim = len(self._view.shape) if ndim is None else ndim
        size = ndim if ndim > 1 else 1  # a 0-d tensor accepts axis 0 and -1
        if not -size <= axis < size:
            raise IndexError(f"dimension {axis} is out of range for a tensor with {ndim} "
                             f"dimensions (shape {self.shape})")
        return axis % size

    def _axes(self, dim: int | Sequence[int] | None) -> tuple[int, ...]:
        if dim is None:
            return tuple(range(self.ndim))
        if isinstance(dim, int):
            dim = (dim,)
        axes = tuple(sorted({self._axis(d) for d in dim}))
        # A 0-d tensor accepts dim 0 / -1 (as PyTorch) but has no axis to reduce.
        return axes if self.ndim else ()

    def _scalar(self, value: Scalar, dtype: DType | None = None,
                shape: tuple[int, ...] = ()) -> Tensor:
        """A constant on this tensor's device, broadcast to ``shape`` by stride 0 (no graph).

        Constant buffers are cached per (device, dtype, value): the same few constants
        (0, 1, log2(e) ...) appear in every step.
        """
        dtype = dtype or self.dtype
        if isinstance(value, int) and not isinstance(value, bool) and dtype.category == 1:
            # integer constants wrap into the dtype, as C and PyTorch do (int32 | 0xFFFFFFFF)
            value = dtypes.wrap_int(value, dtype)
        # -0.0 == 0.0 (and hashes alike), so a float's sign is part of the key: x._where(-0.0,
        # 0.0) must keep its negative zero
        sign = math.copysign(1.0, value) if isinstance(value, float) else 0
        key = (self.device.name, dtype.name, type(value), value, sign)
        buffer = _CONSTANTS.get(key)
        if buffer is None:
            buffer = self.device.from_numpy(np.array(value, dtype.numpy))
            if len(_CONSTANTS) < 4096 and value == value:  # NaN never matches a lookup
                _CONSTANTS[key] = buffer
        t = Tensor._make(buffer, _broadcast_view(shape), dtype, self.device)
        t._storage.constant = True  # shared by every user of this constant: never written
        return t

    def ones_like_scalar(self) -> Tensor:
        """A 0-d one of this tensor's dtype and device."""
        return self._scalar(1)

    def zeros_like_scalar(self) -> Tensor:
        """A 0-d zero of this tensor's dtype and device."""
        return self._scalar(0)

    def _operands(self, other: Any, op: str, reverse: bool = False) -> tuple[Tensor, Tensor]:
        """Promote dtypes and broadcast shapes of self and ``other`` for a binary op."""
        if isinstance(other, Tensor):
            dtype = _result_type(op, self, other)
            a, b = self, other
        else:
            if isinstance(other, (np.ndarray, list, tuple)):
                from zili.tensor.creation import tensor
                return self._operands(tensor(other, device=self.device), op, reverse)
            if not isinstance(other, (int, float, bool, np.number, np.bool_)):
                raise TypeError(f"{op}: unsupported operand type {type(other).__name__}")
            if isinstance(other, (np.number, np.bool_)):
                other = other.item()
            dtype = _result_type(op, self, other)
            a = self if self.dtype is dtype else self.to(dtype)
            b = self._scalar(other, dtype, a.shape)
            return (b, a) if reverse else (a, b)
        if a.dtype is not dtype:
            a = a.to(dtype)
        if b.dtype is not dtype:
            b = b.to(dtype)
        if a.shape != b.shape:
            shape = broadcast_shape(a.shape, b.shape, op=op)
            a, b = a.expand(shape), b.expand(shape)
        return (b, a) if reverse else (a, b)

    def _binary(self, op: Op, other: Any, reverse: bool = False) -> Tensor:
        # by the op's string value: Op's hash and ``value`` are Python code (~1 us a call)
        name, bitwise, function = _BINARY[op._value_]
        a, b = self._operands(other, name, reverse)
        if bitwise and a.dtype.category == 2:
            # checked here so the error names the op, not a device's internal failure
            elementwise_result(op, (a.dtype, b.dtype))
        return function.apply(a, b)


def _result_type(op: str, a: Any, b: Any) -> DType:
    """The promoted dtype of a binary op's operands; raises, naming ``op``, where PyTorch
    does (uint16/32/64 with other integers, or an op with no kernel for them)."""
    # result and checks depend on the op, the dtypes (a scalar's: its Python type, and the
    # default float) and whether a tensor is 0-d only
    if isinstance(b, Tensor):
        key: tuple | None = (op, a.dtype.name, b.dtype.name, a.ndim == 0, b.ndim == 0) \
            if isinstance(a, Tensor) else None
    elif isinstance(a, Tensor) and type(b) in (int, float, bool):
        key = (op, a.dtype.name, type(b), a.ndim == 0, dtypes.default_float.name)
    else:
        key = None
    if key is not None:
        known = _PASSED.get(key)
        if known is not None:
            return known
    dtype = dtypes.result_type(a, b, op=op)
    dtypes.check_supported(op, dtype)
    if op == "sub" and any(isinstance(x, Tensor) and x.dtype is dtypes.bool_ for x in (a, b)):
        dtypes.check_supported(op, dtypes.bool_)  # PyTorch refuses a bool tensor either side
    if key is not None:
        _PASSED[key] = dtype
    return dtype


_PASSED: dict[tuple, DType] = {}  # (op, operands' dtypes ...) -> result dtype that passed


@lru_cache(maxsize=1024)
def _broadcast_view(shape: tuple[int, ...]) -> View:
    """A one-element buffer seen as ``shape`` (all strides 0); Views never change, so one
    per shape is shared."""
    return View(shape, (0,) * len(shape))


_BITWISE = frozenset({Op.AND, Op.OR, Op.XOR})
# the user-facing names of primitives in error messages
_OP_NAMES = {Op.MAX: "maximum", Op.CMPLT: "comparison (<, <=, >, >=)"}
# op value -> (name in error messages, bitwise?, Function) of each binary primitive
_BINARY = {op._value_: (_OP_NAMES.get(op, op.value), op in _BITWISE, function)
           for op, function in F.BINARY_FUNCTIONS.items()}
_CONSTANTS: dict[tuple, Any] = {}
_DTYPE_NAMES = dtypes.NAMES
