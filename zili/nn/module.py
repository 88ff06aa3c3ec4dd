"""``Module`` and ``Parameter``: the containers that hold a model's state, as in ``torch.nn``.

A Module keeps its parameters, buffers and submodules in three ordered dicts that
``__setattr__`` fills, so ``self.weight = Parameter(...)`` registers the weight and
``self.block = Linear(...)`` registers the block. Everything that walks a model
(``named_parameters``, ``state_dict``, ``to``, ``train``) walks those dicts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from zili import dtype as dtypes
from zili.devices import get_device
from zili.tensor import Tensor, no_grad


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable state (``requires_grad=True`` by default).

    ``Parameter(data)`` shares ``data``'s storage and version counter, as in PyTorch: an
    in-place update of one is seen by the other. Operations on a Parameter return plain
    Tensors.
    """

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        from zili.tensor.creation import tensor, zeros
        if data is None:
            data = zeros(0)
        elif not isinstance(data, Tensor):
            data = tensor(data)
        if requires_grad and not data.dtype.is_floating_point:
            raise RuntimeError(f"Parameter: only floating-point tensors can require "
                               f"gradients, got {data.dtype.name}; pass requires_grad=False")
        self = Tensor.__new__(cls)
        self._storage, self._vc, self._base = data._storage, data._vc, None
        self._generation = data._storage.generation
        self._view, self.dtype, self.device = data._view, data.dtype, data.device
        self.grad, self._ctx, self._retains_grad = None, None, False
        self.requires_grad = requires_grad
        return self

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        pass  # all set up in __new__ (Tensor.__init__ would build a second tensor)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(self)


def _rebind(t: Tensor, value: Tensor) -> None:
    """Point ``t`` (a Parameter or buffer) at ``value``'s storage (``t.data = value``),
    keeping its identity so that optimizers holding ``t`` keep working."""
    t.data = value


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns: keys the model wanted but did not get, and keys it
    got but has no place for."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer and model. Subclasses set attributes in ``__init__`` and
    implement ``forward``; calling the module calls ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())

    # --- attribute registration -----------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called; "
                                 "call super().__init__() first in your module's __init__")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                "(zili.nn.Parameter or None expected)")
            params[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                "(Tensor or None expected)")
            buffers[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"{name!r} (Module or None expected)")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the registries.
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add ``param`` (or a None placeholder) as parameter ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got "
                            f"{type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a non-trainable tensor (e.g. a mask) that ``to()`` moves and, when
        ``persistent``, ``state_dict()`` saves."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got "
                            f"{type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add ``module`` as child ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got "
                            f"{type(module).__name__}")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    # --- walking the tree -----------------------------------------------------------------

    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, depth first."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                               remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct children."""
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        """The direct children."""
        for _, child in self.named_children():
            yield child

    def _named_members(self, store: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, t in getattr(mod, store).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs; a parameter shared by two modules appears once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter, each once."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The descendant at dotted path ``target`` ('' is self).

        Raises:
            AttributeError: naming the missing part of the path.
        """
        mod = self
        for part in target.split(".") if target else []:
            child = mod._modules.get(part)
            if child is None:
                raise AttributeError(f"get_submodule: {type(mod).__name__} has no submodule "
                                     f"{part!r} (path {target!r})")
            mod = child
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target``."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if mod._parameters.get(name) is None:
            raise AttributeError(f"get_parameter: no parameter {target!r}")
        return mod._parameters[name]

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many scalars the parameters hold (shared parameters counted once)."""
        return sum(p.numel() for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    # --- modes and gradients --------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active) on this module and every descendant."""
        if not isinstance(mode, bool):
            raise ValueError("train: mode must be a bool")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Turn gradient recording on or off for every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (to None by default, as PyTorch 2)."""
        for p in self.parameters():
            if p.grad is not None:
                p.grad = None if set_to_none else p.grad * 0

    # --- calling --------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses override it."""
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define it in the "
                                  "subclass")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every descendant and then on self (children first, as PyTorch)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- moving ---------------------------------------------------------------------------

    def to(self, *args: Any, device: Any = None, dtype: Any = None) -> Module:
        """Move parameters and buffers to ``device`` and/or cast floating ones to ``dtype``,
        in place (the Parameter objects stay the same, so optimizers keep them)."""
        for a in args:
            if isinstance(a, dtypes.DType) or (isinstance(a, str) and _is_dtype_name(a)):
                dtype = a
            else:
                device = a
        dtype = dtypes.to_dtype(dtype) if dtype is not None else None
        if device is not None:
            device = get_device(device)
        with no_grad():
            for t in [*self.parameters(), *self.buffers()]:
                target = dtype if dtype is not None and t.dtype.is_floating_point else None
                _rebind(t, t.detach().to(device=device, dtype=target))
                if t.grad is not None:
                    t.grad = t.grad.to(device=device, dtype=target)
        return self

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32."""
        return self.to(dtype=dtypes.float32)

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64."""
        return self.to(dtype=dtypes.float64)

    def half(self) -> Module:
        """Cast floating parameters and buffers to float16."""
        return self.to(dtype=dtypes.float16)

    def bfloat16(self) -> Module:
        """Cast floating parameters and buffers to bfloat16."""
        return self.to(dtype=dtypes.bfloat16)

    # --- state ----------------------------------------------------------------------------

    def state_dict(self, destination: dict[str, Tensor] | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Tensor]:
        """Every parameter and persistent buffer by dotted name (detached unless
        ``keep_vars``), in registration order; shared tensors appear under every name."""
        out: dict[str, Tensor] = OrderedDict() if destination is None else destination
        for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip("."),
                                                  remove_duplicate=False):
            base = f"{mod_prefix}." if mod_prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[base + name] = p if keep_vars else p.detach()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[base + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy tensors from ``state_dict`` into the parameters and buffers of the same name
        (cast to each one's dtype and device).

        Raises:
            RuntimeError: listing every missing and unexpected key (when ``strict``) and every
                shape mismatch (always), like PyTorch; nothing is changed in that case.
        """
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                errors.append(f'for "{key}": expected a Tensor, got {type(value).__name__}')
            elif tuple(value.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{tuple(value.shape)} from checkpoint, the shape in current "
                              f"model is {tuple(target.shape)}.")
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with no_grad():
            for key, target in own.items():
                if key in state_dict:
                    value = state_dict[key].detach()
                    if assign:
                        _rebind(target, value)
                    else:  # as PyTorch: copy into the parameter's own memory, never share
                        target.copy_(value)
        return IncompatibleKeys(missing, unexpected)

    # --- printing -------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """Extra text inside this module's repr (subclasses override)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = [extra] if extra else []
        return f"{type(self).__name__}(\n  " + "\n  ".join(head + lines) + "\n)"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))


def _is_dtype_name(name: str) -> bool:
    try:
        dtypes.to_dtype(name)
    except TypeError:
        return False
    return True
