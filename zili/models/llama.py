"""The LLaMA/Qwen2 decoder family, built from ``zili.nn``.

Pre-norm blocks: RMSNorm, grouped-query self-attention with rotary positions (optional
q/k/v biases as in Qwen2, optional sliding window per layer), RMSNorm, SwiGLU MLP
(down(silu(gate(x)) * up(x))); a final RMSNorm and an output head that is either its own
matrix or the token embedding (tied). Parameter names are the Hugging Face ones
(``model.layers.N.self_attn.q_proj.weight`` ...), so a checkpoint's tensors map one to one.

``model(input_ids)`` gives logits (batch, time, vocab). For generation it also takes an
``attention_mask`` (1 for real tokens, 0 for left padding), ``position_ids`` and a
:class:`~zili.models.cache.KVCache` that it extends in place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zili import dtype as dtypes
from zili import nn
from zili.jit import jit
from zili.models.cache import KVCache, StaticKVCache
from zili.models.generation import GenerationMixin
from zili.models.llama_config import LlamaConfig
from zili.models.rope import RotaryEmbedding, apply_rotary
from zili.nn import functional as F  # noqa: N812 (PyTorch convention)
from zili.tensor import Tensor, arange, is_grad_enabled, no_grad, ones, randn, tensor, zeros


def _linear(in_features: int, out_features: int, bias: bool, dtype: Any, device: Any
            ) -> nn.Linear:
    """An ``nn.Linear`` whose weights are zero placeholders (an expanded scalar: no memory)
    until a checkpoint or :meth:`LlamaForCausalLM.init_weights` replaces them; drawing random
    weights only to overwrite them would double the memory a load needs."""
    layer = nn.Linear(1, 1, bias=bias, device=device)
    layer.in_features, layer.out_features = in_features, out_features
    layer.weight = nn.Parameter(_placeholder((out_features, in_features), dtype, device))
    if bias:
        layer.bias = nn.Parameter(_placeholder((out_features,), dtype, device))
    return layer


def _placeholder(shape: tuple[int, ...], dtype: Any, device: Any) -> Tensor:
    """Zeros of ``shape`` as one element expanded by stride 0: no memory until replaced."""
    return zeros((), dtype=dtype, device=device).expand(shape)


class LlamaRMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) computed in float32, cast back, times the weight."""

    def __init__(self, size: int, eps: float, dtype: Any = None, device: Any = None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(ones(size, dtype=dtype, device=device))

    def forward(self, x: Tensor) -> Tensor:
        """(..., size) -> (..., size)."""
        normed = F.rms_norm(x.to(dtypes.float32), (x.shape[-1],), eps=self.eps)
        return self.weight * normed.to(x.dtype)


class LlamaAttention(nn.Module):
    """Grouped-query self-attention: ``num_key_value_heads`` key/value heads shared by
    groups of query heads, rotary positions on queries and keys."""

    def __init__(self, config: LlamaConfig, layer_idx: int, dtype: Any, device: Any):
        super().__init__()
        self.layer_idx = layer_idx
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = config.head_dim
        width, bias = config.hidden_size, config.attention_bias
        self.q_proj = _linear(width, self.heads * self.head_dim, bias, dtype, device)
        self.k_proj = _linear(width, self.kv_heads * self.head_dim, bias, dtype, device)
        self.v_proj = _linear(width, self.kv_heads * self.head_dim, bias, dtype, device)
        # Qwen2 puts biases on q/k/v only; LLaMA's attention_bias covers o_proj too.
        o_bias = bias and config.model_type != "qwen2"
        self.o_proj = _linear(self.heads * self.head_dim, width, o_bias, dtype, device)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor,
                cache: KVCache | None = None) -> Tensor:
        """(B, T, hidden) -> (B, T, hidden); ``mask`` (B, 1, T, S) bool, True = attend."""
        b, t, _ = x.shape
        q = self.q_proj(x).reshape(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).reshape(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).reshape(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class LlamaMLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, config: LlamaConfig, dtype: Any, device: Any):
        super().__init__()
        width, inner, bias = config.hidden_size, config.intermediate_size, config.mlp_bias
        self.gate_proj = _linear(width, inner, bias, dtype, device)
        self.up_proj = _linear(width, inner, bias, dtype, device)
        self.down_proj = _linear(inner, width, bias, dtype, device)

    def forward(self, x: Tensor) -> Tensor:
        """(..., hidden) -> (..., hidden)."""
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    """x + attn(norm(x)), then + mlp(norm(x))."""

    def __init__(self, config: LlamaConfig, layer_idx: int, dtype: Any, device: Any):
        super().__init__()
        self.attention_type = config.layer_types[layer_idx]
        self.self_attn = LlamaAttention(config, layer_idx, dtype, device)
        self.mlp = LlamaMLP(config, dtype, device)
        self.input_layernorm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps, dtype,
                                            device)
        self.post_attention_layernorm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps,
                                                     dtype, device)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor,
                cache: KVCache | None = None) -> Tensor:
        """(B, T, hidden) -> (B, T, hidden)."""
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """Embedding, decoder layers and the final norm: hidden states (B, T, hidden)."""

    def __init__(self, config: LlamaConfig, dtype: Any, device: Any):
        super().__init__()
        self.embed_tokens = nn.Embedding(1, 1, device=device)
        self.embed_tokens.num_embeddings = config.vocab_size
        self.embed_tokens.embedding_dim = config.hidden_size
        self.embed_tokens.weight = nn.Parameter(
            _placeholder((config.vocab_size, config.hidden_size), dtype, device))
        self.layers = nn.ModuleList([LlamaDecoderLayer(config, i, dtype, device)
                                     for i in range(config.num_hidden_layers)])
        self.norm = LlamaRMSNorm(config.hidden_size, config.rms_norm_eps, dtype, device)
        self.rotary_emb = RotaryEmbedding(config)


class LlamaForCausalLM(GenerationMixin, nn.Module):
    """The language model: ``forward(input_ids, ...)`` gives logits (B, T, vocab).

    Qwen2 and Mistral checkpoints load into the same class (their differences are options
    of :class:`LlamaConfig`).
    """

    def __init__(self, config: LlamaConfig, dtype: Any = None, device: Any = None):
        super().__init__()
        self.config = config
        dtype = dtypes.to_dtype(dtype) if dtype is not None else dtypes.float32
        self.model = LlamaModel(config, dtype, device)
        if not config.tie_word_embeddings:
            self.lm_head = _linear(config.hidden_size, config.vocab_size, False, dtype, device)
        self.tokenizer: Any = None
        self._decode_jits: dict[str, Any] | None = None
        self._layer_jit = jit(self._traced_layer)
        self._layer_shapes: set[tuple] = set()

    def init_weights(self, std: float | None = None) -> LlamaForCausalLM:
        """Fill every weight from zili's generator: N(0, std) for matrices (std defaults to
        the config's ``initializer_range`` or 0.02), zero biases, unit norms. Returns self."""
        std = std if std is not None else float(self.config.extra.get("initializer_range",
                                                                       0.02))
        with no_grad():
            for name, p in self.named_parameters():
                # Rebind (not copy_): the placeholders are expanded scalars, not writable.
                if p.ndim == 2:
                    p.data = randn(*p.shape, dtype=p.dtype, device=p.device) * std
                elif name.endswith("norm.weight"):
                    p.data = ones(*p.shape, dtype=p.dtype, device=p.device).contiguous()
                else:
                    p.data = zeros(*p.shape, dtype=p.dtype, device=p.device).contiguous()
        return self

    @property
    def output_weight(self) -> Tensor:
        """The (vocab, hidden) matrix of the output head (the embedding when tied)."""
        return self.model.embed_tokens.weight if self.config.tie_word_embeddings \
            else self.lm_head.weight

    def forward(self, input_ids: Any, attention_mask: Any = None, position_ids: Any = None,
                cache: KVCache | StaticKVCache | None = None, logits_to_keep: int = 0
                ) -> Tensor:
        """Logits (B, T, vocab) for int token ids (B, T).

        ``attention_mask`` (B, past + T) marks real tokens with 1 and padding with 0;
        ``position_ids`` (B, T) default to counting real tokens (0 at each row's first real
        token); ``cache`` holds the keys and values of earlier calls and is extended.
        ``logits_to_keep`` > 0 computes the logits of the last that many positions only
        (generation needs the last one), as in transformers.

        Raises:
            TypeError: float token ids. ValueError: ids or mask of the wrong shape.
        """
        ids = _as_ids(input_ids, "input_ids")
        device = self.model.embed_tokens.weight.device
        b, t = ids.shape
        past = cache.length if cache is not None else 0
        mask_np = None
        if attention_mask is not None:
            mask_np = np.asarray(attention_mask.numpy() if isinstance(attention_mask, Tensor)
                                 else attention_mask).astype(np.int64)
            if mask_np.shape != (b, past + t):
                raise ValueError(f"LlamaForCausalLM: attention_mask has shape {mask_np.shape}"
                                 f" but input_ids {ids.shape} after {past} cached steps need "
                                 f"{(b, past + t)}")
        if position_ids is None:
            position_ids = positions_from_mask(mask_np, b, past, t)
        positions = position_ids if isinstance(position_ids, Tensor) else \
            tensor(np.asarray(position_ids, dtype=np.int64), device=device)
        masks = {kind: attention_masks(kind, self.config.sliding_window, mask_np, b, past, t,
                                       device)
                 for kind in set(self.config.layer_types)}
        logits = self._logits(ids if ids.device is device else ids.to(device), positions,
                              masks, cache, logits_to_keep)
        if cache is not None:
            cache.advance(t)
        return logits

    def _logits(self, ids: Tensor, positions: Tensor, masks: dict[str, Tensor],
                cache: KVCache | StaticKVCache | None, logits_to_keep: int = 0,
                rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """The network itself: embedding, layers, norm and head on device tensors."""
        x = self.model.embed_tokens(ids)
        cos, sin = rope if rope is not None else self.model.rotary_emb(positions, x.dtype)
        replay = self._replays_layers(x, masks, cache)
        for index, layer in enumerate(self.model.layers):
            mask = masks[layer.attention_type]
            if replay:
                keys, values = (cache.keys[index], cache.values[index]) if cache else (None,
                                                                                     None)
                x = self._layer_jit(list(layer.parameters()), x, cos, sin, mask, keys, values,
                                    cache.length if cache else 0)
            else:
                x = layer(x, cos, sin, mask, cache)
        if logits_to_keep > 0:
            x = x[:, -logits_to_keep:]
        return F.linear(self.model.norm(x), self.output_weight)

    def _replays_layers(self, x: Tensor, masks: dict[str, Tensor],
                        cache: KVCache | StaticKVCache | None) -> bool:
        """Whether this forward runs its layers as replays of one traced layer: inference
        (no gradient) on a device that compiles, without a growing cache, at a call shape
        seen before. The first call of a shape runs eagerly, so a one-off prompt length
        costs no trace or compile; a repeated one (evaluation windows, benchmark rounds,
        batches of one length) then runs fused kernels with no per-operation dispatch."""
        if is_grad_enabled() or not x.device.compiles or isinstance(cache, KVCache):
            return False
        shape = (x.shape, x.dtype.name, cache.length if cache else None,
                 cache.max_len if cache else None,
                 tuple((kind, m.shape) for kind, m in sorted(masks.items())))
        if shape in self._layer_shapes:
            return True
        self._layer_shapes.add(shape)
        return False

    def _traced_layer(self, params: list[Tensor], x: Tensor, cos: Tensor, sin: Tensor,
                      mask: Tensor, keys: Tensor | None, values: Tensor | None,
                      start: int) -> Tensor:
        """The decoder layer whose parameters are ``params`` over a whole prompt, writing its
        keys and values into ``keys``/``values`` at ``start`` when a cache is given (traced by
        ``_layer_jit``: one trace serves every layer, their weights being arguments)."""
        layer = self._layer_of[id(params[0])]
        cache = None if keys is None else _StepCache(keys, values, None, start)
        return layer(x, cos, sin, mask, cache)

    def new_cache(self, batch: int, max_len: int) -> StaticKVCache:
        """A :class:`StaticKVCache` for ``batch`` sequences of up to ``max_len`` steps in
        this model's dtype and device."""
        weight = self.model.embed_tokens.weight
        return StaticKVCache(self.config.num_hidden_layers, batch,
                             self.config.num_key_value_heads, max_len, self.config.head_dim,
                             weight.dtype, weight.device)

    def decode(self, input_ids: Any, attention_mask: Any, cache: StaticKVCache,
               use_jit: bool = True) -> Tensor:
        """Logits (B, vocab) of one new token per row (``input_ids`` (B, 1)) after the
        ``cache.length`` steps in ``cache``; ``attention_mask`` (B, cache.length + 1) as in
        :meth:`forward`. The step runs under ``zili.jit`` (traced once per batch size and
        ``max_len``, then replayed): the position, the mask and the slot to write are tensor
        inputs, not constants of the trace. ``use_jit=False`` runs the same step eagerly.

        Raises:
            ValueError: ids or mask of the wrong shape, or a full cache.
        """
        ids = np.asarray(input_ids.numpy() if isinstance(input_ids, Tensor) else input_ids,
                         dtype=np.int64)
        b, past, size = len(ids), cache.length, cache.max_len
        mask = np.ones((b, past + 1), np.int64) if attention_mask is None else np.asarray(
            attention_mask.numpy() if isinstance(attention_mask, Tensor) else attention_mask
        ).astype(np.int64)
        if ids.shape != (b, 1) or mask.shape != (b, past + 1):
            raise ValueError(f"LlamaForCausalLM.decode: input_ids {ids.shape} must be (batch, "
                             f"1) and attention_mask {mask.shape} (batch, {past + 1})")
        if past >= size:
            raise ValueError(f"LlamaForCausalLM.decode: the cache is full ({size} steps); "
                             "make a larger cache")
        device = self.model.embed_tokens.weight.device
        positions = tensor(positions_from_mask(mask, b, past, 1), device=device)
        masks = {kind: tensor(decode_mask(kind, self.config.sliding_window, mask, size),
                              device=device) for kind in sorted(set(self.config.layer_types))}
        slot = np.zeros((1, 1, size, 1), bool)
        slot[0, 0, past, 0] = True
        slot_t = tensor(slot, device=device)
        jits = self._decode_jits if use_jit else None
        if jits is None and use_jit:
            jits = self._decode_jits = {"embed": jit(self._decode_embed),
                                        "layer": jit(self._decode_layer),
                                        "head": jit(self._decode_head)}
        run = jits if jits is not None else {"embed": self._decode_embed,
                                             "layer": self._decode_layer,
                                             "head": self._decode_head}
        with no_grad():
            ids_t = tensor(np.maximum(ids, 0), device=device)
            if self.model.rotary_emb._fixed is None:  # dynamic NTK reads the largest position
                x = run["embed"](ids_t, None)
                cos, sin = self.model.rotary_emb(positions, x.dtype)
            else:
                x, cos, sin = run["embed"](ids_t, positions)
            for layer, keys, values in zip(self.model.layers, cache.keys, cache.values):
                x = run["layer"](list(layer.parameters()), x, cos, sin,
                                 masks[layer.attention_type], slot_t, keys, values)
            logits = run["head"](x)
        cache.advance(1)
        return logits

    # The decode step is three jitted functions, so that one trace of a decoder layer serves
    # every layer (their weights are arguments, same shapes): tracing and compiling cost one
    # layer, not the whole network.

    def _decode_embed(self, ids: Tensor, positions: Tensor | None) -> Any:
        """Embeddings of the new tokens, with their rotary cos/sin unless ``positions`` is
        None (dynamic NTK scaling computes those outside: it reads a value)."""
        x = self.model.embed_tokens(ids)
        if positions is None:
            return x
        return (x, *self.model.rotary_emb(positions, x.dtype))

    def _decode_layer(self, params: list[Tensor], x: Tensor, cos: Tensor, sin: Tensor,
                      mask: Tensor, slot: Tensor, keys: Tensor, values: Tensor) -> Tensor:
        """The decoder layer whose parameters are ``params`` on one token, writing ``keys``
        and ``values`` in place at ``slot``."""
        layer = self._layer_of[id(params[0])]
        return layer(x, cos, sin, mask, _StepCache(keys, values, slot))

    def _decode_head(self, x: Tensor) -> Tensor:
        """Final norm and output head: logits (B, vocab) of the last position."""
        return F.linear(self.model.norm(x[:, -1]), self.output_weight)

    @property
    def _layer_of(self) -> dict[int, LlamaDecoderLayer]:
        return {id(next(iter(layer.parameters()))): layer for layer in self.model.layers}


class _StepCache(StaticKVCache):
    """One layer's slots of a :class:`StaticKVCache`, as a traced step sees them: a decode
    step writing at ``slot``, or a prompt written from position ``length`` on."""

    def __init__(self, keys: Tensor, values: Tensor, slot: Tensor | None, length: int = 0):
        self.keys, self.values, self.slot = [keys], [values], slot
        self.max_len, self.length = keys.shape[2], length

    def update(self, layer: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`StaticKVCache.update` of the one layer held."""
        return super().update(0, key, value)


def positions_from_mask(mask: np.ndarray | None, batch: int, past: int, steps: int
                        ) -> np.ndarray:
    """Position ids (batch, steps): with a mask, the count of real tokens before each slot
    (padding slots get 1, any value works there); without, past .. past + steps - 1."""
    if mask is None:
        return np.broadcast_to(np.arange(past, past + steps, dtype=np.int64), (batch, steps))
    pos = np.cumsum(mask, axis=-1) - 1
    pos[mask == 0] = 1
    return np.ascontiguousarray(pos[:, past:]).astype(np.int64)


def attention_masks(kind: str, window: int | None, mask: np.ndarray | None, batch: int,
                    past: int, steps: int, device: Any) -> Tensor:
    """Bool (B or 1, 1, T, S) mask of the key slots each query slot attends to: causal, the
    sliding window for "sliding_attention" layers, real (mask 1) keys only. A query always
    sees its own slot, so rows of padding stay finite instead of becoming NaN."""
    total = past + steps
    keys = arange(total, device=device).reshape(1, total)
    queries = arange(past, total, device=device).reshape(steps, 1)
    allowed = keys <= queries
    if kind == "sliding_attention" and window:
        allowed = allowed & (keys > queries - window)
    if mask is None:
        return allowed.reshape(1, 1, steps, total)
    real = tensor(mask.astype(bool), device=device).reshape(batch, 1, 1, total)
    return (allowed.reshape(1, 1, steps, total) & real) | (keys == queries).reshape(
        1, 1, steps, total)


def decode_mask(kind: str, window: int | None, mask: np.ndarray, size: int) -> np.ndarray:
    """Bool (B, 1, 1, size) mask of the slots one decode step attends to, the new token
    being at slot ``mask.shape[1] - 1``: real (mask 1) slots, within the sliding window for
    "sliding_attention" layers, and always its own slot (as :func:`attention_masks`)."""
    b, filled = mask.shape
    out = np.zeros((b, 1, 1, size), bool)
    out[:, 0, 0, :filled] = mask.astype(bool)
    if kind == "sliding_attention" and window:
        out[..., :max(filled - window, 0)] = False
    out[..., filled - 1] = True
    return out


def _as_ids(ids: Any, what: str) -> Tensor:
    if not isinstance(ids, Tensor):
        ids = tensor(np.asarray(ids, dtype=np.int64))
    if ids.dtype.is_floating_point:
        raise TypeError(f"LlamaForCausalLM: {what} must be integers, got {ids.dtype.name}")
    if ids.ndim != 2:
        raise ValueError(f"LlamaForCausalLM: {what} must have shape (batch, time), got "
                         f"{ids.shape}")
    return ids if ids.dtype is dtypes.int64 else ids.to(dtypes.int64)
