"""``Optimizer``: the base of every optimizer, as ``torch.optim.Optimizer``.

Parameters live in ``param_groups`` (dicts of hyper-parameters plus a ``params`` list);
per-parameter state (momentum buffers, moments, step counts) lives in ``state``. The state
dict holds only tensors and JSON-able scalars, so a checkpoint stores it in safetensors.

A hyper-parameter may be a 0-d tensor (``lr=zili.tensor(1e-3)``, as PyTorch allows): it is
then data, not a constant, for a ``zili.jit``-compiled step, and schedulers fill it in
place. The state dict stores it as a number; loading fills the tensor again.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from zili.tensor import Tensor, no_grad


class Optimizer:
    """Holds param groups and per-parameter state; subclasses implement ``step``.

    Raises:
        ValueError: for an empty parameter list or a parameter in two groups.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]],
                 defaults: dict[str, Any]):
        self.defaults = defaults
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a Tensor")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (defaults fill the rest).

        Raises:
            ValueError: if a parameter is already in another group.
        """
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (to None by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None if set_to_none else p.grad * 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once (subclasses)."""
        raise NotImplementedError

    def _closure(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        from zili.tensor import set_grad_enabled
        with set_grad_enabled(True):
            return closure()

    # --- checkpoints ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: Tensor | number}}, "param_groups": [{..., "params":
        [indices]}]}, parameters numbered in group order, as PyTorch."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: (scalar_value(v) if isinstance(v, Tensor) else copy.deepcopy(v))
                      for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: (v.detach() if isinstance(v, Tensor) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict` (tensors move to
        each parameter's device; floating state takes the parameter's dtype).

        Raises:
            ValueError: if the group count or group sizes differ from this optimizer's.
        """
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(groups)} parameter groups, this "
                             f"optimizer has {len(self.param_groups)}")
        for saved, own in zip(groups, self.param_groups):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(f"loaded state dict has a group of {len(saved['params'])} "
                                 f"parameters where this optimizer has {len(own['params'])}")
        by_index = {i: p for saved, own in zip(groups, self.param_groups)
                    for i, p in zip(saved["params"], own["params"])}
        # JSON round trips turn int keys into strings; accept both.
        state = {int(k): v for k, v in state_dict["state"].items()}
        self.state = {}
        with no_grad():
            for i, entries in state.items():
                if i not in by_index:
                    raise ValueError(f"loaded optimizer state names parameter {i}, which this "
                                     "optimizer does not have")
                p = by_index[i]
                self.state[p] = {k: _to_param(v, p, k) for k, v in entries.items()}
        for saved, own in zip(groups, self.param_groups):
            for key, value in saved.items():
                if key == "params":
                    continue
                if isinstance(own.get(key), Tensor) and not isinstance(value, Tensor):
                    with no_grad():
                        own[key].fill_(value)  # keep the tensor a compiled step reads
                else:
                    own[key] = copy.deepcopy(value)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def scalar_value(value: Any) -> Any:
    """A hyper-parameter as a Python number: a 0-d tensor's value, anything else as is."""
    return value.item() if isinstance(value, Tensor) else value


def set_hyperparameter(group: dict[str, Any], key: str, value: float) -> None:
    """Set ``group[key]`` to ``value``: fill a tensor in place (a compiled step reads it),
    replace a number."""
    current = group.get(key)
    if isinstance(current, Tensor):
        with no_grad():
            current.fill_(value)
    else:
        group[key] = value


def _to_param(value: Any, param: Tensor, key: str) -> Any:
    if not isinstance(value, Tensor):
        return value
    if value.dtype.is_floating_point and key != "step":
        return value.to(device=param.device, dtype=param.dtype)
    return value.to(device=param.device)
