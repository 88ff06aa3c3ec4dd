"""The configuration of the LLaMA/Qwen2 family, read from a Hugging Face ``config.json``.

One dataclass covers LLaMA, Qwen2 and Mistral-shaped decoders: they differ only in which
options they switch on (attention biases for Qwen2, a sliding window, tied embeddings, a
scaled rotary embedding). Both spellings of the rotary options are understood: the older
top-level ``rope_theta`` + ``rope_scaling`` and the newer ``rope_parameters`` dict.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                 "mistral": "MistralForCausalLM"}
ROPE_TYPES = ("default", "linear", "dynamic", "yarn", "llama3")


@dataclass
class LlamaConfig:
    """The shape and options of a LLaMA-family decoder (names as in ``config.json``).

    ``rope_scaling`` is None or a dict with ``rope_type`` in linear/dynamic/yarn/llama3 and
    that type's keys (``factor``, ``original_max_position_embeddings``, ...).
    ``layer_types`` lists "full_attention" or "sliding_attention" per layer.
    """

    model_type: str = "llama"
    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    hidden_act: str = "silu"
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None
    attention_bias: bool = False
    mlp_bias: bool = False
    tie_word_embeddings: bool = False
    sliding_window: int | None = None
    layer_types: list[str] | None = None
    bos_token_id: int | list[int] | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    torch_dtype: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"LlamaConfig: num_attention_heads={self.num_attention_heads} is "
                             f"not a multiple of num_key_value_heads="
                             f"{self.num_key_value_heads}; grouped-query attention needs it")
        if self.hidden_act != "silu":
            raise ValueError(f"LlamaConfig: hidden_act {self.hidden_act!r} is not supported "
                             "(the LLaMA/Qwen2 family uses 'silu')")
        rope_type = (self.rope_scaling or {}).get("rope_type", "default")
        if rope_type not in ROPE_TYPES:
            raise ValueError(f"LlamaConfig: rope_type {rope_type!r} is not supported; "
                             f"supported: {', '.join(ROPE_TYPES)}")
        if self.layer_types is None:
            self.layer_types = ["full_attention"] * self.num_hidden_layers
        if len(self.layer_types) != self.num_hidden_layers:
            raise ValueError(f"LlamaConfig: layer_types has {len(self.layer_types)} entries "
                             f"for {self.num_hidden_layers} layers")
        if "sliding_attention" in self.layer_types and not self.sliding_window:
            raise ValueError("LlamaConfig: layer_types asks for sliding attention but "
                             "sliding_window is not set")

    @property
    def rope_type(self) -> str:
        """The rotary variant: default, linear, dynamic, yarn or llama3."""
        return (self.rope_scaling or {}).get("rope_type", "default")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LlamaConfig:
        """A config from the dict of a Hugging Face ``config.json``.

        Raises:
            ValueError: a model type outside the family, or options zili cannot run.
        """
        raw = dict(raw)
        model_type = raw.get("model_type", "llama")
        if model_type not in ARCHITECTURES:
            raise ValueError(f"LlamaConfig: model_type {model_type!r} is not in the "
                             f"LLaMA/Qwen2 family zili runs ({', '.join(ARCHITECTURES)})")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        values = {k: raw.pop(k) for k in list(raw) if k in known}
        if model_type == "qwen2":
            values.setdefault("attention_bias", True)  # Qwen2 always has q/k/v biases
        if "dtype" in raw and values.get("torch_dtype") is None:
            values["torch_dtype"] = raw["dtype"]
        # Newer files nest rope_theta and the scaling into rope_parameters; older ones use
        # rope_theta + rope_scaling (with "type" as an old spelling of "rope_type").
        params = dict(raw.pop("rope_parameters", None) or {})
        if "rope_theta" in params:
            values["rope_theta"] = params.pop("rope_theta")
        scaling = dict(values.get("rope_scaling") or {}) or params
        if scaling:
            scaling.setdefault("rope_type", scaling.pop("type", "default"))
            if scaling["rope_type"] in ("llama3", "yarn"):
                scaling.setdefault("original_max_position_embeddings",
                                   raw.get("original_max_position_embeddings",
                                           values.get("max_position_embeddings", 2048)))
        values["rope_scaling"] = scaling if scaling.get("rope_type", "default") != "default" \
            else None
        if values.get("layer_types") is None and raw.get("use_sliding_window") and \
                values.get("sliding_window"):
            # Qwen2's older spelling: layers from max_window_layers on use the window.
            first = raw.get("max_window_layers", 0)
            n = values.get("num_hidden_layers", cls.num_hidden_layers)
            values["layer_types"] = ["sliding_attention" if i >= first else "full_attention"
                                     for i in range(n)]
        elif values.get("layer_types") is None and model_type == "mistral" and \
                values.get("sliding_window"):
            n = values.get("num_hidden_layers", cls.num_hidden_layers)
            values["layer_types"] = ["sliding_attention"] * n
        if values.get("layer_types") is not None and \
                "sliding_attention" not in values["layer_types"]:
            values["sliding_window"] = None
        values["model_type"] = model_type
        return cls(**values, extra=raw)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> LlamaConfig:
        """Read ``config.json`` (or the folder holding it).

        Raises:
            FileNotFoundError: no config.json there. ValueError: the JSON is malformed.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        with open(path, encoding="utf-8") as f:
            try:
                raw = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: config.json must hold a JSON object")
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        """The config as a Hugging Face ``config.json`` dict (the newer rope_parameters
        spelling, plus every unknown key that was read)."""
        out = dict(self.extra)
        values = asdict(self)
        values.pop("extra")
        rope = {"rope_theta": values.pop("rope_theta"), "rope_type": "default"}
        rope.update(values.pop("rope_scaling") or {})
        out.update(values)
        out["rope_parameters"] = rope
        out["architectures"] = [ARCHITECTURES[self.model_type]]
        if self.torch_dtype is not None:
            out["dtype"] = self.torch_dtype
        return out
