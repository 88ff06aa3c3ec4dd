"""Rotary position embeddings (RoPE) with the scaled variants open-weight models use.

The inverse frequencies are a handful of numbers per model (head_dim / 2), computed on the
host in float32 the way the published recipes define them: ``default`` (theta^(-2i/d)),
``linear`` (positions divided by a factor), ``dynamic`` (NTK: the base grows with the
sequence length), ``yarn`` (interpolate low frequencies, extrapolate high ones, scale the
attention) and ``llama3`` (a smooth band between the two). The angles, cosines and sines are
zili tensor operations on the position ids, so each sequence of a left-padded batch gets its
own positions.
"""

from __future__ import annotations

import math

import numpy as np

from zili import dtype as dtypes
from zili import nn
from zili.models.llama_config import LlamaConfig
from zili.tensor import Tensor, cat, tensor


def _base_inv_freq(base: float, dim: int) -> np.ndarray:
    exponents = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
    return (np.float32(1.0) / np.power(np.float32(base), exponents)).astype(np.float32)


def inverse_frequencies(config: LlamaConfig, seq_len: int | None = None
                        ) -> tuple[np.ndarray, float]:
    """(inverse frequencies as float32, attention scaling) of ``config``'s rotary variant;
    ``seq_len`` (the longest position + 1) matters only for ``dynamic``.

    Raises:
        ValueError: a scaling dict that lacks a key its variant needs.
    """
    dim, base = config.head_dim, float(config.rope_theta)
    scaling = dict(config.rope_scaling or {})
    kind = config.rope_type
    try:
        if kind == "default":
            return _base_inv_freq(base, dim), 1.0
        factor = float(scaling["factor"])
        if kind == "linear":
            return _base_inv_freq(base, dim) / np.float32(factor), 1.0
        if kind == "dynamic":
            limit = config.max_position_embeddings
            seq_len = max(seq_len or limit, limit)
            base = base * ((factor * seq_len / limit) - (factor - 1)) ** (dim / (dim - 2))
            return _base_inv_freq(base, dim), 1.0
        if kind == "llama3":
            return _llama3(_base_inv_freq(base, dim), factor, scaling), 1.0
        if kind == "yarn":
            return _yarn(base, dim, factor, scaling, config)
    except KeyError as e:
        raise ValueError(f"rope: rope_scaling of type {kind!r} needs the key {e.args[0]!r}; "
                         f"got {sorted(scaling)}") from None
    raise ValueError(f"rope: unknown rope_type {kind!r}")


def _llama3(inv_freq: np.ndarray, factor: float, scaling: dict) -> np.ndarray:
    """Llama 3.1's recipe: long wavelengths divided by ``factor``, short ones kept, a
    linear blend between ``low_freq_factor`` and ``high_freq_factor``."""
    low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
    old_len = float(scaling["original_max_position_embeddings"])
    low_wavelen, high_wavelen = old_len / low, old_len / high
    wavelen = np.float32(2 * math.pi) / inv_freq
    scaled = np.where(wavelen > low_wavelen, inv_freq / np.float32(factor), inv_freq)
    smooth = (np.float32(old_len) / wavelen - np.float32(low)) / np.float32(high - low)
    smoothed = (1 - smooth) * scaled / np.float32(factor) + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, scaled).astype(np.float32)


def _yarn(base: float, dim: int, factor: float, scaling: dict, config: LlamaConfig
          ) -> tuple[np.ndarray, float]:
    """YaRN: a ramp between extrapolated (high-frequency) and interpolated (low-frequency)
    dimensions, and cos/sin scaled by 0.1 ln(factor) + 1 (or the given attention_factor)."""
    original = float(scaling["original_max_position_embeddings"])

    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    attention = scaling.get("attention_factor")
    if attention is None:
        m, m_all = scaling.get("mscale"), scaling.get("mscale_all_dim")
        attention = mscale(factor, m) / mscale(factor, m_all) if m and m_all else mscale(factor)
    beta_fast = scaling.get("beta_fast") or 32
    beta_slow = scaling.get("beta_slow") or 1

    def correction_dim(rotations: float) -> float:
        return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # the published recipe's guard against a zero-width ramp
    ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - low) / (high - low), 0, 1)
    extrapolation = (1 - ramp).astype(np.float32)
    pos_freqs = np.power(np.float32(base), np.arange(0, dim, 2).astype(np.float32) /
                         np.float32(dim))
    inv = (np.float32(1.0) / (np.float32(factor) * pos_freqs)) * (1 - extrapolation) + \
        (np.float32(1.0) / pos_freqs) * extrapolation
    return inv.astype(np.float32), float(attention)


class RotaryEmbedding(nn.Module):
    """cos and sin of position * inverse frequency, shape (batch, time, head_dim), for the
    positions given (int64, (batch, time))."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        self.config = config
        self._fixed = None if config.rope_type == "dynamic" else inverse_frequencies(config)

    def forward(self, position_ids: Tensor, dtype: dtypes.DType) -> tuple[Tensor, Tensor]:
        """(cos, sin) in ``dtype`` for ``position_ids`` (batch, time)."""
        if self._fixed is None:  # dynamic NTK: the base depends on the longest position
            inv, scale = inverse_frequencies(self.config, int(position_ids.max().item()) + 1)
        else:
            inv, scale = self._fixed
        freqs = tensor(inv, device=position_ids.device)
        angles = position_ids.to(dtypes.float32).unsqueeze(-1) * freqs
        angles = cat([angles, angles], dim=-1)
        cos, sin = angles.cos(), angles.sin()
        if scale != 1.0:
            cos, sin = cos * scale, sin * scale
        return cos.to(dtype), sin.to(dtype)


def rotate_half(x: Tensor) -> Tensor:
    """(x1, x2) -> (-x2, x1) over the last axis split in halves."""
    half = x.shape[-1] // 2
    return cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` (batch, heads, time, head_dim) by the angles of ``cos``/``sin``
    (batch, time, head_dim)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return x * cos + rotate_half(x) * sin
