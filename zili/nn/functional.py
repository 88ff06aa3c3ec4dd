"""``zili.nn.functional``: the composite operations of neural networks, as in
``torch.nn.functional``.

Each function is written once, as a composition of Tensor operations (and so of primitives);
gradients come from the primitives' backward rules. No function here touches NumPy data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from zili import dtype as dtypes
from zili.nn.activations import (  # noqa: F401 (re-exported: torch.nn.functional's names)
    celu,
    elu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    logsigmoid,
    mish,
    prelu,
    relu6,
    rrelu,
    selu,
    softmin,
    softshrink,
    softsign,
    tanhshrink,
    threshold,
)
from zili.nn.activations import implicit_softmax_dim as _implicit_dim
from zili.nn.activations import inplace_source as _inplace_source
from zili.nn.activations import written_back as _written_back
from zili.nn.conv import (  # noqa: F401
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    fold,
    unfold,
)
from zili.nn.losses import (  # noqa: F401
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_similarity,
    embedding_bag,
    huber_loss,
    kl_div,
    normalize,
    pairwise_distance,
    smooth_l1_loss,
)
from zili.nn.losses import dense_gradient_note as _dense_gradient_note
from zili.nn.losses import gradient_by_frequency as _gradient_by_frequency
from zili.nn.losses import legacy_reduction as _legacy_reduction
from zili.nn.losses import reduce_loss as _reduce
from zili.nn.losses import renorm_rows as _renorm_rows
from zili.nn.losses import weighted_reduce as _weighted_reduce
from zili.nn.normalization import batch_norm, group_norm, instance_norm  # noqa: F401
from zili.nn.pooling import (  # noqa: F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from zili.nn.resample import interpolate, pad, upsample  # noqa: F401
from zili.tensor import Tensor, arange, rand
from zili.tensor.autocast import full_precision, lower_precision
from zili.tensor.elementwise import capped_exp2
from zili.tensor.fused import fused_attention

# --- linear maps and lookups ----------------------------------------------------------------

def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """input @ weight.T + bias, with weight of shape (out_features, in_features).

    Raises:
        ValueError: if input's last axis differs from weight's second axis.
    """
    if input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {input.shape} does not fit weight of shape "
                         f"{weight.shape}; input's last axis must be {weight.shape[-1]}")
    input, weight, bias = lower_precision(input, weight, bias)  # noqa: A001 (autocast: low precision)
    rows = input.numel() // max(input.shape[-1], 1) if input.ndim > 2 else 0
    if rows and input._view.reshape((rows, input.shape[-1])) is not None:
        # One product of (rows, in) by the weight, not one per leading index: a broadcast
        # weight would be read once per batch row (as PyTorch, fold the leading axes).
        lead = input.shape[:-1]
        out = input.reshape(rows, input.shape[-1]).matmul(weight.T).reshape(
            *lead, weight.shape[0])
    else:
        out = input.matmul(weight.T)
    return out + bias if bias is not None else out


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by the integer ``input``: shape input.shape + (dim,).

    As PyTorch: the row at ``padding_idx`` receives no gradient; ``max_norm`` first scales
    the picked rows whose ``norm_type``-norm exceeds it back to ``max_norm``, in place in
    ``weight``; ``scale_grad_by_freq`` divides each row's gradient by how often its index
    occurs in ``input``. ``sparse=True`` gives a dense gradient (zili has no sparse
    tensors; said once).

    Raises:
        TypeError: for a non-integer ``input``; IndexError for an index out of range.
    """
    if input.dtype.is_floating_point or input.dtype is dtypes.bool_:
        raise TypeError(f"embedding: indices must be int64 or int32, got {input.dtype.name}")
    if max_norm is not None:
        _renorm_rows(weight, input, max_norm, norm_type)
    if sparse:
        _dense_gradient_note("embedding")
    out = weight.index_select(0, input.reshape(-1)).reshape(input.shape + (weight.shape[1],))
    if scale_grad_by_freq:
        out = _gradient_by_frequency(out, input)
    if padding_idx is not None:
        padding_idx = padding_idx % weight.shape[0]
        keep = (input != padding_idx).unsqueeze(-1)
        out = keep._where(out, out.detach())  # same values; no gradient to the padding row
    return out


# --- normalisation --------------------------------------------------------------------------

def _norm_axes(x: Tensor, normalized_shape: int | Sequence[int], op: str) -> tuple[int, ...]:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) > x.ndim or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"{op}: normalized_shape {shape} does not match the trailing axes of "
                         f"input shape {x.shape}")
    return tuple(range(x.ndim - len(shape), x.ndim))


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int],  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing ``normalized_shape``
    axes (biased variance, as PyTorch).

    Raises:
        ValueError: if ``normalized_shape`` is not the input's trailing shape.
    """
    axes = _norm_axes(input, normalized_shape, "layer_norm")
    input, weight, bias = full_precision(input, weight, bias)  # noqa: A001 (autocast: float32)
    centered = input - input.mean(axes, keepdim=True)
    variance = (centered * centered).mean(axes, keepdim=True)
    out = centered * (variance + eps).rsqrt()
    if weight is not None:
        out = out * weight
    return out + bias if bias is not None else out


def rms_norm(input: Tensor, normalized_shape: int | Sequence[int],  # noqa: A002
             weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) * weight over the trailing axes; ``eps`` defaults to the
    dtype's machine epsilon, as PyTorch.

    Raises:
        ValueError: if ``normalized_shape`` is not the input's trailing shape.
    """
    axes = _norm_axes(input, normalized_shape, "rms_norm")
    input, weight = full_precision(input, weight)  # noqa: A001 (autocast: float32)
    if eps is None:
        eps = _machine_eps(input.dtype)
    out = input * ((input * input).mean(axes, keepdim=True) + eps).rsqrt()
    return out * weight if weight is not None else out


def _machine_eps(dtype: dtypes.DType) -> float:
    import numpy as np
    return float(np.finfo(dtype.numpy).eps) if dtype is not dtypes.bfloat16 else 2.0 ** -7


# --- activations ----------------------------------------------------------------------------

# erfc(z) ~ t * exp(-z^2 + P(t)), t = 1 / (1 + z/2), z >= 0: a Chebyshev fit with relative
# error below 1.2e-7 everywhere (Press et al., Numerical Recipes, sec. 6.2).
_ERFC_COEFFS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
                -1.13520398, 1.48851587, -0.82215223, 0.17087277)


def erf(input: Tensor) -> Tensor:  # noqa: A002
    """The error function, built from exp and a polynomial (absolute error < 1.2e-7); float64
    inputs take ``Tensor.erf`` (full float64 accuracy, zili/tensor/special.py). The float32
    path stays this short composite: gelu's hot path fuses it under ``zili.jit``."""
    if input.dtype is dtypes.float64:
        return input.erf()
    negative = input < 0
    z = negative._where(-input, input)  # not abs(): its gradient at 0 is 0, erf's is not
    t = (z * 0.5 + 1.0).reciprocal()
    poly = t * _ERFC_COEFFS[-1]
    for c in reversed(_ERFC_COEFFS[1:-1]):
        poly = (poly + c) * t
    erfc = t * (poly + _ERFC_COEFFS[0] - z * z).exp()
    return negative._where(erfc - 1.0, 1.0 - erfc)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """x * Phi(x); ``approximate='tanh'`` uses PyTorch's tanh formula.

    Raises:
        ValueError: for another ``approximate`` value.
    """
    if approximate == "none":
        return input * (erf(input * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
    if approximate == "tanh":
        # 0.5 * x * (1 + tanh(z)) = x * sigmoid(2z) = x / (1 + 2**(-2z * log2(e))): the same
        # function as PyTorch's formula in half the primitives.
        scale = -2.0 * math.sqrt(2.0 / math.pi) / math.log(2.0)
        exponent = input * (input * input * (0.044715 * scale) + scale)
        return input / (capped_exp2(exponent) + 1.0)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x * sigmoid(x) (``inplace``: written into ``input``, as PyTorch)."""
    source = _inplace_source(input, inplace)
    return _written_back(input, source * source.sigmoid(), inplace)


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(x, 0) (``inplace``: written into ``input``, as PyTorch)."""
    return _written_back(input, _inplace_source(input, inplace).relu(), inplace)


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """1 / (1 + exp(-x))."""
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """Hyperbolic tangent."""
    return input.tanh()


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002, F811
    """log(1 + exp(beta x)) / beta, linear above ``threshold`` (as PyTorch)."""
    (input,) = full_precision(input)  # noqa: A001 (autocast: float32)
    scaled = input * beta
    soft = ((-scaled.abs()).exp() + 1.0).log() * (1.0 / beta) + input.relu()
    return (scaled > threshold)._where(input, soft)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
            dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (None: PyTorch's deprecated implicit choice, with
    its warning), computed in ``dtype`` when given."""
    x = input.to(dtypes.to_dtype(dtype)) if dtype is not None else input
    return x.softmax(_implicit_dim("softmax", dim, input.ndim, _stacklevel))


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
                dtype: Any = None) -> Tensor:
    """log(softmax(x)) along ``dim`` (None as :func:`softmax`), computed stably."""
    x = input.to(dtypes.to_dtype(dtype)) if dtype is not None else input
    return x.log_softmax(_implicit_dim("log_softmax", dim, input.ndim, _stacklevel))


# --- losses ---------------------------------------------------------------------------------

def _classes_last(x: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N, d1, ..., C) so the class axis is last."""
    if x.ndim <= 2:
        return x
    return x.permute((0, *range(2, x.ndim), 1))


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the ``target`` classes under log-probabilities ``input``
    of shape (N, C) or (N, C, d1, ...) or (C,); ``mean`` is weighted by the targets' weights
    over targets that are not ``ignore_index``.

    Raises:
        ValueError: for mismatched shapes or an unknown reduction.
    """
    reduction = _legacy_reduction("nll_loss", size_average, reduce, reduction)
    input, weight = full_precision(input, weight)  # noqa: A001 (autocast: float32)
    if input.ndim == 1:
        out = nll_loss(input.unsqueeze(0), target.reshape(1), weight,
                       ignore_index=ignore_index, reduction=reduction)
        return out.reshape(()) if reduction == "none" else out
    picked, w = _pick_targets(input, target, weight, ignore_index, "nll_loss")
    return _weighted_loss(-picked * w, w, reduction, "nll_loss")


def _pick_targets(input: Tensor, target: Tensor, weight: Tensor | None,  # noqa: A002
                  ignore_index: int, op: str) -> tuple[Tensor, Tensor]:
    """input[n, target[n], ...] and each target's weight (0 where ignored)."""
    if target.dtype.is_floating_point:
        raise TypeError(f"{op}: target must hold class indices (int64), got "
                        f"{target.dtype.name}")
    expected = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"{op}: target of shape {target.shape} does not match input of "
                         f"shape {input.shape}; expected {expected}")
    logp = _classes_last(input)
    target = target.to(dtypes.int64)
    valid = target != ignore_index
    safe = valid._where(target, 0)
    picked = logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    if weight is not None:
        w = valid._where(weight.index_select(0, safe.reshape(-1)).reshape(safe.shape), 0.0)
    else:
        w = valid.to(input.dtype)
    return picked, w


def _weighted_loss(loss: Tensor, w: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.sum() / w.sum()
    return _reduce(loss, reduction, op)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                  size_average: bool | None = None, ignore_index: int = -100,
                  reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits ``input`` ((N, C), (N, C, d1, ...) or (C,)) and class
    indices ``target`` (or class probabilities of input's shape), with PyTorch's
    ``weight``, ``ignore_index``, ``reduction`` and ``label_smoothing`` semantics.

    Raises:
        ValueError: for mismatched shapes, an unknown reduction or a smoothing outside [0, 1].
    """
    reduction = _legacy_reduction("cross_entropy", size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    input, target, weight = full_precision(input, target, weight)  # noqa: A001 (autocast: float32)
    class_dim = 0 if input.ndim == 1 else 1
    if label_smoothing == 0.0 and not target.dtype.is_floating_point and input.ndim > 1:
        # Only the targets' log-probabilities are needed: log p[t] = shifted[t] - lse, so
        # the full log_softmax over the classes is never built (the largest tensor of a
        # language model's step).
        shifted = input - input.detach().amax(class_dim, keepdim=True)
        lse = shifted.exp().sum(class_dim, keepdim=True).log().squeeze(class_dim)
        picked, w = _pick_targets(shifted, target, weight, ignore_index, "cross_entropy")
        return _weighted_loss((lse - picked) * w, w, reduction, "cross_entropy")
    logp = input.log_softmax(class_dim)
    classes = input.shape[class_dim]
    if target.dtype.is_floating_point:  # class probabilities
        if target.shape != input.shape:
            raise ValueError(f"cross_entropy: probability target of shape {target.shape} must "
                             f"match input shape {input.shape}")
        if label_smoothing > 0:
            target = target * (1.0 - label_smoothing) + label_smoothing / classes
        per_class = logp * target
        if weight is not None:
            per_class = per_class * _class_weight_shape(weight, input.ndim, class_dim)
        loss = -per_class.sum(class_dim)
        return _reduce(loss, reduction, "cross_entropy")
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0.0:
        return nll
    # Smoothing term: the (weighted) mean of -log p over classes, on non-ignored targets.
    flat_logp = logp.unsqueeze(0) if input.ndim == 1 else logp
    flat_target = target.reshape(1) if input.ndim == 1 else target
    valid = flat_target != ignore_index
    per_class = flat_logp
    if weight is not None:
        per_class = per_class * _class_weight_shape(weight, flat_logp.ndim, 1)
    smooth = valid._where(-per_class.sum(1), 0.0)
    if reduction == "mean":
        if weight is not None:
            safe = valid._where(flat_target.to(dtypes.int64), 0)
            denominator = valid._where(
                weight.index_select(0, safe.reshape(-1)).reshape(safe.shape), 0.0).sum()
        else:
            denominator = valid.sum().to(input.dtype)
        smooth = smooth.sum() / denominator
    else:
        smooth = _reduce(smooth, reduction, "cross_entropy")
        if input.ndim == 1 and reduction == "none":
            smooth = smooth.reshape(())
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)


def _class_weight_shape(weight: Tensor, ndim: int, class_dim: int) -> Tensor:
    return weight.reshape(tuple(-1 if i == class_dim else 1 for i in range(ndim)))


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None,  # noqa: A002
             reduce: bool | None = None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """Mean (or sum, or elementwise) squared difference (``size_average``/``reduce``:
    PyTorch's deprecated pair, :func:`zili.nn.losses.legacy_reduction`). With ``weight``
    (input's shape) each term is scaled and 'mean' divides by the sum of the weights, as
    PyTorch does.

    Raises:
        ValueError: a weight whose shape is not the input's, or an unknown reduction.
    """
    reduction = _legacy_reduction("mse_loss", size_average, reduce, reduction)
    input, target = full_precision(input, target)  # noqa: A001 (autocast: float32)
    diff = input - target
    return _weighted_reduce(diff * diff, weight, input, reduction, "mse_loss",
                            mean_over_weights=True)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,  # noqa: A002
            reduce: bool | None = None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Mean (or sum, or elementwise) absolute difference (``size_average``/``reduce`` and
    ``weight``: as :func:`mse_loss`).

    Raises:
        ValueError: as :func:`mse_loss`.
    """
    reduction = _legacy_reduction("l1_loss", size_average, reduce, reduction)
    input, target = full_precision(input, target)  # noqa: A001 (autocast: float32)
    return _weighted_reduce((input - target).abs(), weight, input, reduction, "l1_loss",
                            mean_over_weights=True)


# --- randomness and attention ---------------------------------------------------------------

def dropout(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
            inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) when
    ``training``; the mask comes from zili's counter-based generator (reproducible per seed).

    Raises:
        ValueError: if ``p`` is outside [0, 1].
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = rand(input.shape, device=input.device) >= p
    return keep._where(input * (1.0 / (1.0 - p)), 0.0)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q k^T * scale + mask) v over (..., L, E) queries and (..., S, E) keys, as
    ``torch.nn.functional.scaled_dot_product_attention``: a bool ``attn_mask`` keeps True
    positions, a float one is added; ``is_causal`` keeps key j <= query i (top-left aligned).
    With ``enable_gqa`` the key/value heads (axis -3) are repeated to match the query heads.

    Raises:
        ValueError: for mismatched shapes, or both ``attn_mask`` and ``is_causal``.
    """
    # autocast: the products in float16/bfloat16 (softmax itself stays float32)
    query, key, value = lower_precision(query, key, value)
    if attn_mask is not None and attn_mask.dtype.is_floating_point:
        (attn_mask,) = lower_precision(attn_mask)
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: query {query.shape}, key {key.shape} "
                         f"and value {value.shape} do not fit (q/k last axes and k/v "
                         "sequence axes must match)")
    if attn_mask is not None and is_causal:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal, "
                         "not both")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        groups = query.shape[-3] // key.shape[-3]
        key = _repeat_heads(key, groups)
        value = _repeat_heads(value, groups)
    length, source = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    fused = fused_attention(query, key, value, attn_mask, dropout_p, is_causal, scale)
    if fused is not None:  # the device's fused kernel (zili.tensor.fused)
        return fused
    scores = query.matmul(key.transpose(-2, -1)) * scale
    if is_causal:
        rows = arange(length, device=query.device).reshape(length, 1)
        allowed = arange(source, device=query.device).reshape(1, source) <= rows
        scores = allowed._where(scores, float("-inf"))
    elif attn_mask is not None:
        if attn_mask.dtype is dtypes.bool_:
            scores = attn_mask._where(scores, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = scores.softmax(-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return weights.matmul(value)


def _repeat_heads(x: Tensor, groups: int) -> Tensor:
    """(..., H, S, E) -> (..., H * groups, S, E), each head repeated ``groups`` times."""
    lead, (heads, s, e) = x.shape[:-3], x.shape[-3:]
    expanded = x.unsqueeze(-3).expand(lead + (heads, groups, s, e))
    return expanded.reshape(lead + (heads * groups, s, e))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 tensor of shape tensor.shape + (num_classes,) with a 1 at each index.

    Raises:
        ValueError: if an index is negative or not below ``num_classes``.
    """
    if tensor.dtype.is_floating_point:
        raise TypeError(f"one_hot: expects an integer tensor, got {tensor.dtype.name}")
    low, high = int(tensor.min().item()), int(tensor.max().item())
    if num_classes < 0:
        num_classes = high + 1
    if low < 0 or high >= num_classes:
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got range "
                         f"[{low}, {high}]")
    classes = arange(num_classes, device=tensor.device)
    return (tensor.to(dtypes.int64).unsqueeze(-1) == classes).to(dtypes.int64)
