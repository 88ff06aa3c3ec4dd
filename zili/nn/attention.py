"""Causal multi-head self-attention, the GPT building block."""

from __future__ import annotations

from typing import Any

from zili.nn import functional as F  # noqa: N812 (PyTorch convention)
from zili.nn.layers import Dropout, Linear
from zili.nn.module import Module
from zili.tensor import Tensor


class CausalSelfAttention(Module):
    """Multi-head self-attention where position t sees positions <= t.

    One fused Linear ``qkv`` (embed_dim -> 3 * embed_dim, laid out [q | k | v]) makes the
    queries, keys and values; ``proj`` maps the joined heads back. Input and output are
    (batch, time, embed_dim).

    Raises:
        ValueError: if ``embed_dim`` is not a multiple of ``n_heads``.
    """

    def __init__(self, embed_dim: int, n_heads: int, dropout: float = 0.0, bias: bool = True,
                 device: Any = None, dtype: Any = None):
        super().__init__()
        if embed_dim % n_heads:
            raise ValueError(f"CausalSelfAttention: embed_dim {embed_dim} is not divisible by "
                             f"n_heads {n_heads}")
        self.embed_dim, self.n_heads, self.head_dim = embed_dim, n_heads, embed_dim // n_heads
        self.dropout = dropout
        self.qkv = Linear(embed_dim, 3 * embed_dim, bias=bias, device=device, dtype=dtype)
        self.proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self.resid_dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, T, C)."""
        if x.ndim != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"CausalSelfAttention: expected input (batch, time, "
                             f"{self.embed_dim}), got shape {x.shape}")
        b, t, c = x.shape
        # (B, T, 3, H, D) -> (3, B, H, T, D): one permute for q, k and v together.
        qkv = self.qkv(x).reshape(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(b, t, c)
        return self.resid_dropout(self.proj(y))

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, n_heads={self.n_heads}, dropout={self.dropout}"
