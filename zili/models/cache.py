"""The key/value cache of incremental decoding.

Each layer keeps its keys and values (batch, kv_heads, steps, head_dim) after the rotary
embedding, so a new token costs one row of attention instead of a pass over the whole
sequence. Sliding-window layers keep every step too; their mask hides the old ones.
"""

from __future__ import annotations

from zili.tensor import Tensor, cat


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
