"""LoRA: low-rank adapters on chosen linear layers (Hu et al., 2021).

``LoRALinear`` wraps a frozen ``Linear`` W and adds ``scale * B(A(dropout(x)))`` with A
(r x in, kaiming-uniform) and B (out x r, zero at start, so training starts from the base
model) and scale = alpha / r. Only A and B train; the base may stay in bfloat16 while the
adapters train in float32. Names follow PEFT's layout (``q_proj.base_layer.weight``,
``q_proj.lora_A.weight``), and the adapter file holds only the adapter tensors under PEFT's
keys (``base_model.model.<path>.lora_A.weight``, checksummed) plus ``adapter_config.json``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from typing import Any

from zili import dtype as dtypes
from zili.files import atomic_write
from zili.io.checkpoint import load, save
from zili.nn import init
from zili.nn.layers import Dropout, Linear
from zili.nn.module import Module, Parameter
from zili.tensor import Tensor, no_grad

PEFT_PREFIX = "base_model.model."
ADAPTER_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"


class LoRALinear(Module):
    """``base(x) + scale * lora_B(lora_A(dropout(x)))`` with ``base`` frozen.

    Raises:
        ValueError: r < 1.
    """

    def __init__(self, base: Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0,
                 dtype: Any = None):
        super().__init__()
        if r < 1:
            raise ValueError(f"LoRALinear: rank r must be >= 1, got {r}")
        self.r, self.alpha, self.scale = r, alpha, alpha / r
        self.base_layer = base
        base.requires_grad_(False)
        dtype = dtypes.to_dtype(dtype) if dtype is not None else dtypes.float32
        device = base.weight.device
        self.lora_A = Linear(base.in_features, r, bias=False, device=device, dtype=dtype)
        self.lora_B = Linear(r, base.out_features, bias=False, device=device, dtype=dtype)
        init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        init.zeros_(self.lora_B.weight)
        self.lora_dropout = Dropout(dropout)

    @property
    def in_features(self) -> int:
        """Input width of the wrapped layer."""
        return self.base_layer.in_features

    @property
    def out_features(self) -> int:
        """Output width of the wrapped layer."""
        return self.base_layer.out_features

    def forward(self, x: Tensor) -> Tensor:
        """(..., in) -> (..., out), in the base layer's output dtype."""
        y = self.base_layer(x)
        low = self.lora_dropout(x).to(self.lora_A.weight.dtype)
        delta = self.lora_B(self.lora_A(low)) * self.scale
        return y + delta.to(y.dtype)

    def merged_weight(self) -> Tensor:
        """W + scale * B A, in the base weight's dtype."""
        with no_grad():
            delta = self.lora_B.weight.matmul(self.lora_A.weight) * self.scale
            return (self.base_layer.weight.to(delta.dtype) + delta).to(
                self.base_layer.weight.dtype)

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}"


def apply_lora(model: Module, r: int = 8, alpha: float = 16.0, dropout: float = 0.0,
               target_modules: Iterable[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
               dtype: Any = None) -> list[str]:
    """Freeze every parameter of ``model`` and wrap each ``Linear`` whose attribute name is
    in ``target_modules`` in a :class:`LoRALinear`; returns the wrapped layers' paths.

    Raises:
        ValueError: no layer matched ``target_modules``.
    """
    targets = set(target_modules)
    model.requires_grad_(False)
    wrapped = []
    for path, module in list(model.named_modules()):
        for name, child in list(module.named_children()):
            if name in targets and isinstance(child, Linear):
                setattr(module, name, LoRALinear(child, r, alpha, dropout, dtype))
                wrapped.append(f"{path}.{name}" if path else name)
    if not wrapped:
        raise ValueError(f"apply_lora: no Linear layer is named any of {sorted(targets)}; "
                         "pass target_modules with names the model uses")
    return wrapped


def lora_layers(model: Module) -> dict[str, LoRALinear]:
    """path -> LoRALinear for every adapter in ``model``."""
    return {path: m for path, m in model.named_modules() if isinstance(m, LoRALinear)}


def lora_parameters(model: Module) -> list[Parameter]:
    """The adapters' A and B matrices (what an optimizer should train)."""
    return [p for m in lora_layers(model).values()
            for p in (m.lora_A.weight, m.lora_B.weight)]


def lora_state_dict(model: Module) -> dict[str, Tensor]:
    """Adapter tensors only, under PEFT's names."""
    out = {}
    for path, m in lora_layers(model).items():
        out[f"{PEFT_PREFIX}{path}.lora_A.weight"] = m.lora_A.weight.detach()
        out[f"{PEFT_PREFIX}{path}.lora_B.weight"] = m.lora_B.weight.detach()
    return out


def save_lora(model: Module, folder: str | os.PathLike) -> None:
    """Write ``adapter_model.safetensors`` (adapter tensors only) and
    ``adapter_config.json`` into ``folder``, atomically.

    Raises:
        ValueError: the model has no adapters.
    """
    layers = lora_layers(model)
    if not layers:
        raise ValueError("save_lora: the model has no LoRA adapters (call apply_lora first)")
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    # zili.save keeps a flat dict's own keys (PEFT's), adds a checksum, writes atomically.
    save(lora_state_dict(model), os.path.join(folder, ADAPTER_FILE))
    first = next(iter(layers.values()))
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": first.r,
              "lora_alpha": first.alpha, "lora_dropout": first.lora_dropout.p,
              "target_modules": sorted({p.rsplit(".", 1)[-1] for p in layers}), "bias": "none"}
    atomic_write(os.path.join(folder, CONFIG_FILE), [json.dumps(config, indent=2).encode()])


def load_lora(model: Module, folder: str | os.PathLike) -> list[str]:
    """Wrap ``model``'s layers as ``adapter_config.json`` says and load the adapter tensors
    of ``folder``; returns the wrapped paths.

    Raises:
        ValueError: the file's adapters do not match the model's layers (names the tensor).
    """
    folder = os.fspath(folder)
    with open(os.path.join(folder, CONFIG_FILE), encoding="utf-8") as f:
        config = json.load(f)
    wrapped = apply_lora(model, int(config["r"]), float(config["lora_alpha"]),
                         float(config.get("lora_dropout", 0.0)), config["target_modules"])
    tensors = load(os.path.join(folder, ADAPTER_FILE))
    own = lora_state_dict(model)
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise ValueError(f"{folder}: adapters do not fit the model: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}")
    with no_grad():
        for path, m in lora_layers(model).items():
            for part in ("lora_A", "lora_B"):
                target = getattr(m, part).weight
                value = tensors[f"{PEFT_PREFIX}{path}.{part}.weight"]
                if value.shape != target.shape:
                    raise ValueError(f"{folder}: adapter {path}.{part} has shape "
                                     f"{value.shape}, the model needs {target.shape}")
                target.data = value.to(device=target.device, dtype=target.dtype)
    return wrapped


def merge_lora(model: Module) -> Module:
    """Replace every :class:`LoRALinear` by a plain ``Linear`` holding W + scale * B A (the
    base dtype is kept); returns ``model``."""
    for _, module in list(model.named_modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                base = child.base_layer
                base.weight.data = child.merged_weight()
                setattr(module, name, base)
    return model
