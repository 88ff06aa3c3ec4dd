"""Losses and distances of ``torch.nn.functional`` beyond cross-entropy/nll/mse/l1:
binary cross-entropy (on probabilities and on logits, with weights), smooth L1, Huber,
KL divergence, cosine similarity, pairwise distance, normalize and embedding_bag; each a
composition of tensor operations with PyTorch's semantics and reductions."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from zili import dtype as dtypes
from zili.errors import ShapeError
from zili.tensor import Tensor, is_grad_enabled, no_grad, tensor

_REDUCTIONS = ("mean", "sum", "none")


def reduce_loss(loss: Tensor, reduction: str, op: str) -> Tensor:
    """Apply PyTorch's ``reduction`` ('mean', 'sum' or 'none') to an elementwise loss.

    Raises:
        ValueError: for another reduction.
    """
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def weighted_reduce(loss: Tensor, weight: Tensor | None, input: Tensor,  # noqa: A002
                    reduction: str, op: str, mean_over_weights: bool) -> Tensor:
    """:func:`reduce_loss` of ``loss`` scaled elementwise by ``weight`` (None: unweighted).
    PyTorch's weighted 'mean' differs by loss: the sum over the sum of the weights
    (``mean_over_weights``: mse, l1) or the plain mean of the weighted terms (huber).

    Raises:
        ValueError: a weight whose shape is not the input's (PyTorch's check), or an unknown
            reduction.
    """
    if weight is None:
        return reduce_loss(loss, reduction, op)
    if weight.shape != input.shape:
        raise ValueError(f"{op}: weight of shape {weight.shape} must have the input's shape "
                         f"{input.shape} (PyTorch: 'Weights and input must have the same "
                         "size')")
    loss = loss * weight
    if reduction == "mean" and mean_over_weights:
        return loss.sum() / weight.sum()
    return reduce_loss(loss, reduction, op)


def legacy_reduction(op: str, size_average: bool | None, reduce: bool | None,
                     reduction: str) -> str:
    """The reduction PyTorch's deprecated ``size_average``/``reduce`` pair stands for (either
    left None counts as True: both True is 'mean', ``reduce`` alone 'sum', ``reduce=False``
    'none'), with PyTorch's deprecation warning; ``reduction`` when both are None."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    chosen = ("mean" if size_average else "sum") if reduce else "none"
    warnings.warn(f"{op}: size_average and reduce are deprecated (as in PyTorch); use "
                  f"reduction={chosen!r} instead", UserWarning, stacklevel=3)
    return chosen


def _same_shape(input: Tensor, target: Tensor, op: str) -> None:  # noqa: A002
    if input.shape != target.shape:
        raise ShapeError(f"{op}: target of shape {target.shape} must match input shape "
                         f"{input.shape}")


def binary_cross_entropy(input: Tensor, target: Tensor,  # noqa: A002
                         weight: Tensor | None = None, size_average: bool | None = None,
                         reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) on probabilities ``input``, the logs clamped at -100
    as PyTorch does (``size_average``/``reduce``: see :func:`legacy_reduction`).

    Raises:
        ShapeError: if target's shape differs from input's.
    """
    reduction = legacy_reduction("binary_cross_entropy", size_average, reduce, reduction)
    _same_shape(input, target, "binary_cross_entropy")
    log_p = input.log().clamp(min=-100.0)
    log_q = (1.0 - input).log().clamp(min=-100.0)
    loss = -(target * log_p + (1.0 - target) * log_q)
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of sigmoid(input), computed stably from logits, with PyTorch's
    ``weight`` and ``pos_weight`` (weighting the positive term).

    Raises:
        ShapeError: if target's shape differs from input's.
    """
    reduction = legacy_reduction("binary_cross_entropy_with_logits", size_average, reduce,
                                 reduction)
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    # log(1 + exp(-|x|)) + max(-x, 0) = -log sigmoid(x); -log(1 - sigmoid(x)) = that + x
    soft = ((-input.abs()).exp() + 1.0).log() + (-input).relu()
    if pos_weight is None:
        loss = (1.0 - target) * input + soft
    else:
        scale = (pos_weight - 1.0) * target + 1.0
        loss = (1.0 - target) * input + scale * soft
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction, "binary_cross_entropy_with_logits")


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,  # noqa: A002
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target)."""
    reduction = legacy_reduction("smooth_l1_loss", size_average, reduce, reduction)
    diff = (input - target).abs()
    if beta == 0.0:
        return reduce_loss(diff, reduction, "smooth_l1_loss")
    loss = (diff < beta)._where(diff * diff * (0.5 / beta), diff - 0.5 * beta)
    return reduce_loss(loss, reduction, "smooth_l1_loss")


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere; ``weight`` (input's
    shape) scales each term, and 'mean' is then the mean of the weighted terms, as PyTorch.

    Raises:
        ValueError: a weight whose shape is not the input's, or an unknown reduction.
    """
    diff = (input - target).abs()
    loss = (diff < delta)._where(diff * diff * 0.5, (diff - 0.5 * delta) * delta)
    return weighted_reduce(loss, weight, input, reduction, "huber_loss",
                           mean_over_weights=False)


def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None,  # noqa: A002
           reduce: bool | None = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Pointwise KL divergence target * (log target - input) with log-probabilities
    ``input``; 'batchmean' divides the sum by the batch size, as PyTorch."""
    reduction = legacy_reduction("kl_div", size_average, reduce, reduction)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # 0 * log 0 = 0, as PyTorch's xlogy
        safe = (target > 0)._where(target, 1.0)
        loss = (target > 0)._where(target * safe.log(), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return reduce_loss(loss, reduction, "kl_div")


def normalize(input: Tensor, p: float = 2.0, dim: int = 1,  # noqa: A002
              eps: float = 1e-12, out: Tensor | None = None) -> Tensor:
    """x / max(||x||_p, eps) along ``dim``; with ``out`` the result is written into it and
    ``out`` is returned, as PyTorch's out= (no gradient flows through it).

    Raises:
        RuntimeError: ``out`` requires grad while gradients are recorded (PyTorch's error).
        ShapeError: ``out`` of another shape than the result (PyTorch would resize it; zili
            tensors cannot be resized in place).
    """
    norm = vector_norm(input, p, dim, keepdim=True)
    result = input / norm.clamp(min=eps)
    if out is None:
        return result
    return _write_out(result, out, "normalize")


def _write_out(result: Tensor, out: Tensor, op: str) -> Tensor:
    if out.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad")
    if out.shape != result.shape:
        raise ShapeError(f"{op}: out has shape {out.shape} but the result has shape "
                         f"{result.shape}; pass an out of the result's shape")
    with no_grad():
        out.copy_(result.detach())
    return out


def vector_norm(x: Tensor, p: float = 2.0, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The p-norm over ``dim`` (inf: max |x|; 0: count of nonzeros)."""
    magnitude = x.abs()
    if p == float("inf"):
        return magnitude.amax(dim, keepdim)
    if p == 0:
        return (magnitude != 0).to(x.dtype).sum(dim, keepdim)
    if p == 1:
        return magnitude.sum(dim, keepdim)
    total = (x * x).sum(dim, keepdim) if p == 2 else (magnitude ** p).sum(dim, keepdim)
    # At a zero vector the root's derivative is infinite; PyTorch's norm gives the zero
    # subgradient there, so take the root of 1 instead and select 0.
    zero = total == 0
    safe = zero._where(1.0, total)
    root = safe.sqrt() if p == 2 else safe ** (1.0 / p)
    return zero._where(0.0, root)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """<x1, x2> / (max(||x1||, eps) * max(||x2||, eps)) along ``dim`` (broadcasting), as
    PyTorch computes it."""
    dot = (x1 * x2).sum(dim)
    n1 = (x1 * x1).sum(dim).sqrt().clamp(min=eps)
    n2 = (x2 * x2).sum(dim).sqrt().clamp(min=eps)
    return dot / (n1 * n2)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last axis, as PyTorch."""
    return vector_norm(x1 - x2 + eps, p, -1, keepdim)


def renorm_rows(weight: Tensor, indices: Tensor, max_norm: float, norm_type: float) -> None:
    """PyTorch's ``max_norm`` for embeddings: the rows of ``weight`` that ``indices`` pick
    and whose ``norm_type``-norm exceeds ``max_norm`` are scaled in place to
    max_norm / (norm + 1e-7), outside autograd (the weight is modified, as PyTorch's)."""
    picked = np.unique(indices.numpy().reshape(-1))
    if picked.size == 0:
        return
    with no_grad():
        rows_at = tensor(picked.astype(np.int64), device=weight.device)
        rows = weight.index_select(0, rows_at)
        norms = vector_norm(rows, norm_type, 1, keepdim=True)
        scale = (norms > max_norm)._where(max_norm / (norms + 1e-7), 1.0)
        weight[rows_at] = rows * scale.to(weight.dtype)


def gradient_by_frequency(rows: Tensor, indices: Tensor) -> Tensor:
    """``rows`` (one looked-up row per index, leading axes as ``indices``) with unchanged
    values but gradients divided by how often each index occurs in ``indices``
    (``scale_grad_by_freq``)."""
    flat = indices.numpy().reshape(-1)
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    scale = tensor((1.0 / counts[inverse]).reshape(indices.shape + (1,)), dtype=rows.dtype,
                   device=rows.device)
    frozen = rows.detach()
    return frozen + (rows - frozen) * scale  # forward: exactly rows; backward: scaled


_SPARSE_NOTED: set[str] = set()


def dense_gradient_note(op: str) -> None:
    """Say once per op that ``sparse=True`` gives a dense gradient here."""
    if op not in _SPARSE_NOTED:
        _SPARSE_NOTED.add(op)
        warnings.warn(f"{op}: sparse=True: zili has no sparse gradients; the weight receives "
                      "a dense gradient with the same values", UserWarning, stacklevel=3)


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,  # noqa: A002
                  max_norm: float | None = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxima of bags of embedding rows, as ``torch.nn.functional.
    embedding_bag``: a 2-D ``input`` is one bag per row; a 1-D one is cut into bags at
    ``offsets``. Empty bags give zeros. ``max_norm``/``norm_type`` renormalize the picked
    rows of ``weight`` in place first (:func:`renorm_rows`); ``sparse=True`` gives a dense
    gradient (zili has no sparse tensors; said once).

    Raises:
        ValueError: for an unknown mode, per-sample weights outside mode 'sum', or a 1-D
            input without offsets.
        NotImplementedError: ``scale_grad_by_freq=True``: PyTorch's gradient for it does not
            follow its documented inverse-frequency rule (measured: an index seen once in a
            batch got 1/3), so there is no reference to match; use :func:`embedding` with
            ``scale_grad_by_freq`` and sum the bags.
    """
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be sum, mean or max, got {mode!r}")
    if scale_grad_by_freq:
        raise NotImplementedError(
            "embedding_bag: scale_grad_by_freq=True is not supported (PyTorch's gradient for "
            "it does not follow the documented inverse-frequency rule, so zili has nothing "
            "to match); use F.embedding(..., scale_grad_by_freq=True) and sum the bags")
    if max_norm is not None:
        renorm_rows(weight, input, max_norm, norm_type)
    if sparse:
        dense_gradient_note("embedding_bag")
    if per_sample_weights is not None and mode != "sum":
        raise ValueError("embedding_bag: per_sample_weights need mode='sum'")
    if input.ndim == 2:
        bags, length = input.shape
        flat = input.reshape(-1)
        bag_of = [i // max(length, 1) for i in range(bags * length)]
        count = bags
    else:
        if offsets is None:
            raise ValueError("embedding_bag: a 1-D input needs offsets")
        starts = [int(v) for v in offsets.tolist()]
        total = input.shape[0]
        if include_last_offset:
            starts, end = starts[:-1], starts[-1]
            total = min(total, end)
        count = len(starts)
        bounds = starts + [total]
        bag_of = [b for b in range(count) for _ in range(bounds[b], bounds[b + 1])]
        flat = input[:total] if total < input.shape[0] else input
    rows = weight.index_select(0, flat.to(dtypes.int64))  # (L, D)
    keep = None
    if padding_idx is not None:
        keep = flat != (padding_idx % weight.shape[0])
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1)[:rows.shape[0]].unsqueeze(-1)
    one_hot = tensor([[1.0 if bag_of[i] == b else 0.0 for i in range(len(bag_of))]
                      for b in range(count)], dtype=weight.dtype, device=weight.device) \
        if bag_of else weight._scalar(0.0, weight.dtype, (count, 0))
    if keep is not None:
        one_hot = one_hot * keep.to(weight.dtype).unsqueeze(0)
    if mode == "max":
        member = one_hot.unsqueeze(-1) > 0  # (B, L, 1)
        low = weight._scalar(float("-inf"), weight.dtype)
        picked = member._where(rows.unsqueeze(0), low).amax(1) if rows.shape[0] else \
            weight._scalar(0.0, weight.dtype, (count, weight.shape[1]))
        return (one_hot.sum(1, keepdim=True) > 0)._where(picked, 0.0)
    total_rows = one_hot.matmul(rows)
    if mode == "sum":
        return total_rows
    sizes = one_hot.sum(1, keepdim=True)
    return total_rows / (sizes > 0)._where(sizes, 1.0)
