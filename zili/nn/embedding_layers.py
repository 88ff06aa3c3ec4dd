"""``nn.Embedding`` and ``nn.EmbeddingBag``: lookup tables as PyTorch's, with every
constructor argument (``max_norm``, ``norm_type``, ``scale_grad_by_freq``, ``sparse``,
``_weight``, ``_freeze``) and ``Embedding.from_pretrained``."""

from __future__ import annotations

from typing import Any

from zili import dtype as dtypes
from zili.errors import ShapeError
from zili.nn import functional as F  # noqa: N812 (PyTorch convention)
from zili.nn import init
from zili.nn.module import Module, Parameter
from zili.tensor import Tensor, empty, no_grad


def _padding_index(padding_idx: int | None, num_embeddings: int, op: str) -> int | None:
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{op}: padding_idx {padding_idx} is outside [-{num_embeddings}, "
                         f"{num_embeddings})")
    return padding_idx % num_embeddings


def _table(num_embeddings: int, embedding_dim: int, weight: Tensor | None, freeze: bool,
           device: Any, dtype: Any, op: str) -> tuple[Parameter, bool]:
    """The weight Parameter (``weight`` taken as it is, or a new uninitialised table) and
    whether it still needs initialising."""
    if weight is None:
        table = empty((num_embeddings, embedding_dim), dtype=dtype or dtypes.default_float,
                      device=device)
        return Parameter(table, requires_grad=not freeze), True
    if tuple(weight.shape) != (num_embeddings, embedding_dim):
        raise ShapeError(f"{op}: _weight has shape {weight.shape}, expected "
                         f"{(num_embeddings, embedding_dim)} (num_embeddings, embedding_dim)")
    return Parameter(weight.detach(), requires_grad=not freeze), False


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, N(0, 1) at
    start (the ``padding_idx`` row zero and gradient-free); the other arguments are
    :func:`zili.nn.functional.embedding`'s.

    Raises:
        ValueError: ``padding_idx`` outside the table. ShapeError: a ``_weight`` of another
            shape.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Tensor | None = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_index(padding_idx, num_embeddings, "Embedding")
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        self.weight, fresh = _table(num_embeddings, embedding_dim, _weight, _freeze, device,
                                    dtype, "Embedding")
        if fresh:
            self.reset_parameters()

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding over the 2-D ``embeddings`` (kept as they are; frozen unless
        ``freeze=False``), as ``torch.nn.Embedding.from_pretrained``.

        Raises:
            ShapeError: ``embeddings`` not 2-D.
        """
        if embeddings.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                             f"{embeddings.shape}")
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)

    def reset_parameters(self) -> None:
        """Re-draw N(0, 1) weights (zero padding row)."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        extra = "".join(f", {name}={getattr(self, name)}" for name, default in
                        [("padding_idx", None), ("max_norm", None), ("norm_type", 2.0),
                         ("scale_grad_by_freq", False), ("sparse", False)]
                        if getattr(self, name) != default)
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}"


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings without building the looked-up rows'
    tensor per bag: :func:`zili.nn.functional.embedding_bag` over a table initialised
    N(0, 1) (padding row zero), as ``torch.nn.EmbeddingBag``.

    Raises:
        ValueError: ``padding_idx`` outside the table or an unknown mode. ShapeError: a
            ``_weight`` of another shape.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight: Tensor | None = None,
                 include_last_offset: bool = False, padding_idx: int | None = None,
                 device: Any = None, dtype: Any = None):
        super().__init__()
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be sum, mean or max, got {mode!r}")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.mode, self.sparse = scale_grad_by_freq, mode, sparse
        self.include_last_offset = include_last_offset
        self.padding_idx = _padding_index(padding_idx, num_embeddings, "EmbeddingBag")
        self.weight, fresh = _table(num_embeddings, embedding_dim, _weight, False, device,
                                    dtype, "EmbeddingBag")
        if fresh:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw N(0, 1) weights (zero padding row)."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor, offsets: Tensor | None = None,  # noqa: A002
                per_sample_weights: Tensor | None = None) -> Tensor:
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                               self.scale_grad_by_freq, self.mode, self.sparse,
                               per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}"
