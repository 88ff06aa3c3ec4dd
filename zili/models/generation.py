"""Text generation for decoder language models: a KV cache, batches of prompts of different
lengths (left padding with an attention mask), greedy and sampled decoding.

One prefill call runs the whole prompt and fills the cache; every later call feeds only the
newest token. Choosing the next token works on the last position's logits, (batch, vocab),
on the host: temperature, top-k and top-p (nucleus) filtering need a sort, which zili has no
primitive for; the random numbers come from zili's counter-based generator, so
``zili.manual_seed`` fixes the text on every device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from zili.models.cache import KVCache
from zili.tensor import Tensor, no_grad, rand, tensor

# A static cache's length is rounded up to a multiple of this, so generate calls of nearby
# lengths reuse one traced decode step.
CACHE_ROUND = 64


def filter_logits(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> np.ndarray:
    """(batch, vocab) float logits divided by ``temperature``, with every token outside the
    ``top_k`` most likely and outside the smallest set whose probability reaches ``top_p``
    set to -inf (the order and rules of Hugging Face's warpers).

    Raises:
        ValueError: temperature <= 0, top_k < 1 or top_p outside (0, 1].
    """
    if temperature <= 0:
        raise ValueError(f"generate: temperature must be > 0 to sample, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"generate: top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"generate: top_p must be in (0, 1], got {top_p}")
    out = logits.astype(np.float32) / np.float32(temperature)
    if top_k is not None and top_k < out.shape[-1]:
        kth = np.partition(out, -top_k, axis=-1)[:, -top_k:-top_k + 1]
        out = np.where(out < kth, -np.inf, out)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(out, axis=-1, kind="stable")  # ascending
        ranked = np.take_along_axis(out, order, axis=-1)
        probs = np.exp(ranked - ranked[:, -1:])
        probs /= probs.sum(-1, keepdims=True)
        drop = np.cumsum(probs, axis=-1) <= (1 - top_p)
        drop[:, -1] = False  # always keep the most likely token
        removed = np.zeros_like(drop)
        np.put_along_axis(removed, order, drop, axis=-1)
        out = np.where(removed, -np.inf, out)
    return out


def sample(logits: np.ndarray, device: Any = None) -> np.ndarray:
    """One token per row drawn from softmax(``logits``) by the Gumbel-max trick with zili's
    generator (argmax of logits - log(-log u))."""
    u = rand(*logits.shape, device=device).numpy().astype(np.float64)
    gumbel = -np.log(-np.log(np.clip(u, 1e-10, 1 - 1e-7)))
    return np.argmax(logits + gumbel, axis=-1)


def left_pad(prompts: Sequence[Sequence[int]], pad_token_id: int = 0
             ) -> tuple[np.ndarray, np.ndarray]:
    """(ids, attention_mask), both (batch, longest) int64, prompts aligned to the right.

    Raises:
        ValueError: an empty prompt.
    """
    if any(len(p) == 0 for p in prompts):
        raise ValueError("generate: every prompt needs at least one token")
    width = max(len(p) for p in prompts)
    ids = np.full((len(prompts), width), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(prompts), width), dtype=np.int64)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = p
        mask[row, width - len(p):] = 1
    return ids, mask


def decode_steps(model: Any, input_ids: Any, max_new_tokens: int = 32,
                 temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, eos_token_id: int | Sequence[int] | None = None,
                 attention_mask: Any = None, do_sample: bool | None = None,
                 pad_token_id: int | None = None, use_cache: bool = True,
                 use_jit: bool = True) -> Iterator[np.ndarray]:
    """Yield the tokens (B,) chosen at each step of decoding ``input_ids``; the arguments are
    :meth:`GenerationMixin.generate`'s. Stops after ``max_new_tokens`` or when every row
    has produced an eos id.

    Raises:
        ValueError: bad sampling parameters or a mask that does not fit the ids.
    """
    ids = np.asarray(input_ids.numpy() if isinstance(input_ids, Tensor) else input_ids,
                     dtype=np.int64)
    if ids.ndim != 2:
        raise ValueError(f"generate: input_ids must be (batch, time), got {ids.shape}")
    mask = np.ones_like(ids) if attention_mask is None else np.asarray(
        attention_mask.numpy() if isinstance(attention_mask, Tensor) else attention_mask,
        dtype=np.int64)
    if mask.shape != ids.shape:
        raise ValueError(f"generate: attention_mask {mask.shape} does not match input_ids "
                         f"{ids.shape}")
    greedy = (do_sample is False) or temperature == 0
    if not greedy:
        filter_logits(np.zeros((1, 2), np.float32), temperature, top_k, top_p)  # validate
    eos = set() if eos_token_id is None else \
        {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id)
    pad = pad_token_id if pad_token_id is not None else (min(eos) if eos else 0)
    device = next(iter(model.parameters())).device
    was_training = model.training
    model.eval()
    try:
        static = use_cache and hasattr(model, "decode")
        if static:  # room for every step, rounded up so that nearby lengths share a trace
            cache: Any = model.new_cache(len(ids), -(-(ids.shape[1] + max_new_tokens) //
                                                     CACHE_ROUND) * CACHE_ROUND)
        else:
            cache = KVCache(model.config.num_hidden_layers) if use_cache else None
        done = np.zeros(len(ids), dtype=bool)
        step_ids, seen = ids, [ids]
        for _ in range(max_new_tokens):
            if cache is None:
                step_ids = np.concatenate(seen, axis=1)
            # no_grad per call, not around the generator: it must not leak to the caller's
            # code while the generator is suspended.
            with no_grad():
                # A finished row is fed its pad id, which may be negative (-1): its logits
                # are discarded, and embedding refuses negative ids (as PyTorch's does).
                if static and cache.length:  # one token: the jitted fixed-shape step
                    logits = model.decode(step_ids, mask, cache, use_jit=use_jit)
                else:
                    logits = model(tensor(np.maximum(step_ids, 0), device=device),
                                   attention_mask=mask, cache=cache, logits_to_keep=1)[:, -1]
                last = logits.float().numpy()
            if greedy:
                nxt = np.argmax(last, axis=-1)
            else:
                nxt = sample(filter_logits(last, temperature, top_k, top_p), device)
            nxt = np.where(done, pad, nxt).astype(np.int64)
            seen.append(nxt[:, None])
            done |= np.isin(nxt, list(eos))
            mask = np.concatenate([mask, np.ones((len(ids), 1), np.int64)], axis=1)
            step_ids = nxt[:, None]
            yield nxt
            if done.all():
                break
    finally:
        model.train(was_training)


class GenerationMixin:
    """``generate`` for a model whose forward takes (ids, attention_mask=, cache=)."""

    def generate(self, input_ids: Any, max_new_tokens: int = 32, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None,
                 eos_token_id: int | Sequence[int] | None = None,
                 attention_mask: Any = None, do_sample: bool | None = None,
                 pad_token_id: int | None = None, use_cache: bool = True,
                 streamer: Callable[[np.ndarray], Any] | None = None,
                 use_jit: bool = True) -> Tensor:
        """Append up to ``max_new_tokens`` tokens to ``input_ids`` (B, T) and return
        (B, T + new) int64.

        Greedy when ``do_sample`` is False or ``temperature`` is 0 (``do_sample=None`` means
        "sample when temperature > 0"). Prompts of different lengths come left-padded with
        an ``attention_mask`` (see :func:`left_pad`). A row that produced ``eos_token_id``
        continues with ``pad_token_id`` (default: the eos id) and generation stops when every
        row has finished. ``streamer`` is called with each step's tokens (B,).
        ``use_cache=False`` recomputes the whole sequence each step (for checking). A model
        with ``new_cache``/``decode`` (the LLaMA family) keeps a preallocated cache and
        decodes each token with one jitted fixed-shape step; ``use_jit=False`` runs that
        step eagerly (for checking).

        Raises:
            ValueError: bad sampling parameters or a mask that does not fit the ids.
        """
        ids = np.asarray(input_ids.numpy() if isinstance(input_ids, Tensor) else input_ids,
                         dtype=np.int64)
        out = [ids]
        for step in decode_steps(self, ids, max_new_tokens, temperature, top_k, top_p,
                                 eos_token_id, attention_mask, do_sample, pad_token_id,
                                 use_cache, use_jit):
            out.append(step[:, None])
            if streamer is not None:
                streamer(step)
        device = next(iter(self.parameters())).device
        return tensor(np.concatenate(out, axis=1), device=device)
