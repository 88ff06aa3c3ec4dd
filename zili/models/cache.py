"""The key/value caches of incremental decoding.

Each layer keeps its keys and values (batch, kv_heads, steps, head_dim) after the rotary
embedding, so a new token costs one row of attention instead of a pass over the whole
sequence. Sliding-window layers keep every step too; their mask hides the old ones.

:class:`KVCache` grows by concatenation (each step copies what is cached: simple, any
length). :class:`StaticKVCache` preallocates ``max_len`` slots per layer and writes each
step in place, so a decode step has the same shapes at every position and ``zili.jit`` can
trace it once and replay it (:meth:`LlamaForCausalLM.decode`).
"""

from __future__ import annotations

from typing import Any

from zili.tensor import Tensor, cat, where, zeros


class KVCache:
    """Keys and values per layer; ``length`` counts the steps the model has consumed."""

    def __init__(self, num_layers: int):
        self.keys: list[Tensor | None] = [None] * num_layers
        self.values: list[Tensor | None] = [None] * num_layers
        self.length = 0

    def update(self, layer: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Append this call's ``key`` and ``value`` (B, kv_heads, T, D) to ``layer``'s and
        return everything cached for it.

        Raises:
            ValueError: a batch or head shape that differs from what is cached.
        """
        old_k, old_v = self.keys[layer], self.values[layer]
        if old_k is not None:
            if old_k.shape[:2] != key.shape[:2] or old_k.shape[3] != key.shape[3]:
                raise ValueError(f"KVCache.update: layer {layer} holds keys of shape "
                                 f"{old_k.shape}, the new ones are {key.shape}; batch, heads "
                                 "and head size must match (start a new cache)")
            key, value = cat([old_k, key], dim=2), cat([old_v, value], dim=2)
        self.keys[layer], self.values[layer] = key, value
        return key, value

    def advance(self, steps: int) -> None:
        """Record that the model consumed ``steps`` more positions (after all layers ran)."""
        self.length += steps


class StaticKVCache:
    """Preallocated keys and values, (batch, kv_heads, max_len, head_dim) per layer, written
    in place at the current position.

    An eager call (a prompt) writes its T steps through a view at ``length`` and attends to
    the filled part. A traced decode step sets :attr:`slot`, a bool (1, 1, max_len, 1) tensor
    that is True at the position being written: the step then writes by selecting with it
    and attends to all ``max_len`` slots under a mask, so its shapes and its trace do not
    depend on the position.
    """

    def __init__(self, num_layers: int, batch: int, kv_heads: int, max_len: int,
                 head_dim: int, dtype: Any = None, device: Any = None):
        shape = (batch, kv_heads, max_len, head_dim)
        self.keys = [zeros(shape, dtype=dtype, device=device).contiguous()
                     for _ in range(num_layers)]
        self.values = [zeros(shape, dtype=dtype, device=device).contiguous()
                       for _ in range(num_layers)]
        self.max_len = max_len
        self.length = 0
        self.slot: Tensor | None = None

    def update(self, layer: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Write this call's ``key`` and ``value`` (B, kv_heads, T, D) into ``layer``'s slots
        and return the keys and values to attend to: the filled part (eager call), or every
        slot (traced decode step, :attr:`slot` set; the caller's mask hides empty slots).

        Raises:
            ValueError: a shape that differs from the cache's, or more steps than
                ``max_len`` holds.
        """
        keys, values = self.keys[layer], self.values[layer]
        steps = key.shape[2]
        if key.shape[:2] != keys.shape[:2] or key.shape[3] != keys.shape[3]:
            raise ValueError(f"StaticKVCache.update: layer {layer} holds keys of shape "
                             f"{keys.shape}, the new ones are {key.shape}; batch, heads and "
                             "head size must match (make a cache for this batch)")
        if self.slot is not None:
            if steps != 1:
                raise ValueError(f"StaticKVCache.update: a decode step writes one position, "
                                 f"got {steps}")
            keys.copy_(where(self.slot, key.to(keys.dtype), keys))
            values.copy_(where(self.slot, value.to(values.dtype), values))
            return keys, values
        end = self.length + steps
        if end > self.max_len:
            raise ValueError(f"StaticKVCache.update: {self.length} cached steps + {steps} new "
                             f"exceed max_len {self.max_len}; make a larger cache")
        keys[:, :, self.length:end] = key
        values[:, :, self.length:end] = value
        return keys[:, :, :end], values[:, :, :end]

    def advance(self, steps: int) -> None:
        """Record that the model consumed ``steps`` more positions (after all layers ran)."""
        self.length += steps
