"""A GPT: decoder-only transformer language model built from ``zili.nn``.

Token and position embeddings, ``n_layer`` pre-LayerNorm blocks (causal self-attention,
then an MLP with tanh-approximated GELU), a final LayerNorm and an output head tied to
the token embedding. Initialisation follows GPT-2: normal(0, 0.02) weights, zero biases,
and the residual projections scaled by 1/sqrt(2 * n_layer) so the residual stream keeps
its size as depth grows. Parameter names follow the usual GPT-2 layout (``wte``, ``wpe``,
``h.N.attn.c_attn`` ...), so weights map one to one onto other implementations.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

import zili
from zili import nn
from zili.nn import functional as F  # noqa: N812 (PyTorch convention)
from zili.tensor import Tensor


@dataclass
class GPTConfig:
    """The shape of a GPT. ``block_size`` is the longest context it can attend over."""

    vocab_size: int = 4096
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 192
    dropout: float = 0.0
    bias: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-friendly dict (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GPTConfig:
        """A config from :meth:`to_dict`'s output; unknown keys are an error.

        Raises:
            ValueError: a key that is not a GPTConfig field.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"GPTConfig: unknown fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t only sees positions <= t."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"GPT: n_embd={config.n_embd} is not divisible by "
                             f"n_head={config.n_head}; pick sizes where it is")
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, T, C)."""
        batch, steps, width = x.shape
        heads = self.n_head
        q, k, v = self.c_attn(x).split(width, dim=2)
        # (B, T, C) -> (B, heads, T, head size): attention runs per head.
        q, k, v = (t.reshape(batch, steps, heads, width // heads).transpose(1, 2)
                   for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(batch, steps, width)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward: widen 4x, GELU (tanh approximation), project back."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, T, C)."""
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    """One transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, T, C)."""
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The language model; ``forward(idx, targets)`` gives (logits, loss)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2 initialisation from zili's generator (so a seed fixes the weights)."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        with zili.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    p.copy_(zili.randn(*p.shape) * residual_std)
                elif name.endswith("weight") and p.ndim == 2:
                    p.copy_(zili.randn(*p.shape) * 0.02)
                elif name.startswith("ln") or ".ln_" in name:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                else:  # Linear biases
                    p.zero_()

    def forward(self, idx: Tensor, targets: Tensor | None = None
                ) -> tuple[Tensor, Tensor | None]:
        """Logits (B, T, vocab) for int64 token ids ``idx`` (B, T), and the mean
        cross-entropy against ``targets`` (B, T) when given (else None).

        Raises:
            ValueError: if T exceeds ``block_size``.
        """
        idx = _as_ids(idx)
        batch, steps = idx.shape
        if steps > self.config.block_size:
            raise ValueError(f"GPT: sequence of length {steps} is longer than block_size "
                             f"{self.config.block_size}; crop it or build a larger model")
        positions = zili.arange(steps, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(positions))
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        # Weight tying: the output head is the token embedding, transposed.
        logits = x.matmul(self.wte.weight.transpose(0, 1))
        if targets is None:
            return logits, None
        targets = _as_ids(targets, device=idx.device)
        vocab = self.config.vocab_size
        loss = F.cross_entropy(logits.reshape(batch * steps, vocab),
                               targets.reshape(batch * steps))
        return logits, loss

    @zili.no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None) -> Tensor:
        """Append ``max_new_tokens`` sampled ids to ``idx`` (B, T) and return (B, T + new).

        Sampling uses the Gumbel-max trick on zili's counter-based generator
        (argmax(logits / temperature + Gumbel noise) draws from the softmax), so the same
        ``zili.manual_seed`` gives the same text on every device. ``temperature=0`` picks
        the most likely token. ``top_k`` keeps only the k most likely tokens.

        Raises:
            ValueError: for a negative temperature or top_k < 1.
        """
        if temperature < 0:
            raise ValueError(f"generate: temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"generate: top_k must be >= 1, got {top_k}")
        was_training = self.training
        self.eval()
        idx = _as_ids(idx)
        try:
            for _ in range(max_new_tokens):
                window = idx if idx.shape[1] <= self.config.block_size else \
                    idx[:, -self.config.block_size:]
                logits, _ = self(window)
                logits = logits[:, -1, :]
                if temperature == 0:
                    nxt = logits.argmax(dim=-1, keepdim=True)
                else:
                    logits = logits / temperature
                    if top_k is not None and top_k < logits.shape[-1]:
                        logits = _keep_top_k(logits, top_k)
                    uniform = zili.rand(*logits.shape, device=logits.device)
                    # Gumbel noise -log(-log(u)); u is clamped away from 0 and 1.
                    gumbel = -(-(uniform.clamp(1e-10, 1 - 1e-7)).log()).log()
                    nxt = (logits + gumbel).argmax(dim=-1, keepdim=True)
                idx = zili.cat([idx, nxt.to(zili.int64)], dim=1)
        finally:
            self.train(was_training)
        return idx


def _keep_top_k(logits: Tensor, k: int) -> Tensor:
    """``logits`` with every entry below the row's k-th largest set to -inf.

    The k-th largest value is found on the host (zili has no sort primitive); the mask
    itself is applied with zili ops.
    """
    host = logits.numpy()
    kth = np.partition(host, -k, axis=-1)[..., -k:-k + 1]
    threshold = zili.tensor(kth, device=logits.device)
    return (logits < threshold)._where(float("-inf"), logits)


def _as_ids(idx: Any, device: Any = None) -> Tensor:
    """Token ids as an int64 tensor (NumPy arrays and lists are converted).

    Raises:
        TypeError: ids of a floating-point dtype.
    """
    if not isinstance(idx, Tensor):
        idx = zili.tensor(np.asarray(idx, dtype=np.int64), device=device)
    if idx.dtype.is_floating_point:
        raise TypeError(f"GPT: token ids must be integers, got {idx.dtype.name}")
    if idx.ndim != 2:
        raise ValueError(f"GPT: token ids must have shape (batch, steps), got {idx.shape}")
    return idx if idx.dtype is zili.int64 else idx.to(zili.int64)
