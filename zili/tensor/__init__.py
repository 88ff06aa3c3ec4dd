"""The tensor layer: ``Tensor``, factory functions, the generator and autograd."""

from zili.tensor.autograd import Function, is_grad_enabled, no_grad, set_grad_enabled
from zili.tensor.creation import (
    Generator,
    arange,
    empty,
    eye,
    from_numpy,
    full,
    full_like,
    get_rng_state,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    set_rng_state,
    tensor,
    tril,
    triu,
    zeros,
    zeros_like,
)
from zili.tensor.einsum import einsum
from zili.tensor.elementwise import where
from zili.tensor.movement import cat, stack
from zili.tensor.special import polygamma
from zili.tensor.tensor import Tensor, broadcast_shape
from zili.tensor.toplevel import FUNCTIONS as _FUNCTIONS

globals().update(_FUNCTIONS)  # zili.sort, zili.cumsum ...: torch's top-level spellings

__all__ = ["Function", "Generator", "Tensor", "arange", "broadcast_shape", "cat", "einsum",
           "empty", "eye", "from_numpy", "full", "full_like", "get_rng_state", "is_grad_enabled",
           "linspace",
           "manual_seed", "no_grad", "ones", "ones_like", "polygamma", "rand", "rand_like",
           "randint",
           "randn", "randn_like", "randperm", "set_grad_enabled", "set_rng_state", "stack",
           "tensor", "tril", "triu", "where", "zeros", "zeros_like"] + sorted(_FUNCTIONS)
