"""The same GPT written in PyTorch: the oracle of tests/test_models_gpt.py and the peer of
bench/train_gpt.py. Written independently of zili.models.gpt; only the parameter names
match (GPT-2 layout), so weights copy across by name.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TorchBlock(nn.Module):
    """Pre-LayerNorm block: causal multi-head attention, then a GELU(tanh) MLP."""

    def __init__(self, width: int, heads: int, fused_attention: bool = False):
        super().__init__()
        self.heads = heads
        self.fused_attention = fused_attention
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.Module()
        self.attn.c_attn = nn.Linear(width, 3 * width)
        self.attn.c_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(width, 4 * width)
        self.mlp.c_proj = nn.Linear(4 * width, width)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Causal self-attention, (B, T, C) -> (B, T, C): written out, or PyTorch's fused
        ``scaled_dot_product_attention`` (flash attention on a GPU) with ``fused_attention``."""
        b, t, c = x.shape
        q, k, v = self.attn.c_attn(x).chunk(3, dim=-1)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        if self.fused_attention:
            y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.attn.c_proj(y.transpose(1, 2).reshape(b, t, c))
        scores = q @ k.transpose(-1, -2) / math.sqrt(c // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
        y = scores.softmax(-1) @ v
        return self.attn.c_proj(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One block."""
        x = x + self.attention(self.ln_1(x))
        hidden = nn.functional.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh")
        return x + self.mlp.c_proj(hidden)


class TorchGPT(nn.Module):
    """Token + position embeddings, blocks, final LayerNorm, head tied to the embedding."""

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int,
                 n_embd: int, fused_attention: bool = False):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList([TorchBlock(n_embd, n_head, fused_attention)
                                for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.ndim == 2:
                    p.normal_(0.0, 0.02)
                elif "ln" not in name:
                    p.zero_()

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, mean cross-entropy or None)."""
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        if targets is None:
            return logits, None
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           targets.reshape(-1))
        return logits, loss


def torch_optimizer(model: TorchGPT, lr: float, weight_decay: float,
                    betas: tuple[float, float]) -> torch.optim.AdamW:
    """AdamW with decay on matrices only, as zili.train.make_optimizer."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    other = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": other, "weight_decay": 0.0}], lr=lr, betas=betas)
