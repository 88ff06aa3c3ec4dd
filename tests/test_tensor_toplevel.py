"""zili's top-level spellings of Tensor methods (zili.exp(x), zili.sum(x, 1), zili.mm(a, b)...)
against torch's, every device: each lifted name called as PyTorch users call it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zili
from zili.tensor.toplevel import NAMES

# Arguments beyond the tensor for names that need them (None: the name is covered elsewhere
# with its own arguments, e.g. scatter in test_tensor_selection).
EXTRA = {"clamp": (0.0, 0.5), "clip": (0.0, 0.5), "pow": (2,), "remainder": (0.3,),
         "fmod": (0.3,), "lerp": ("other", 0.25), "maximum": ("other",),
         "minimum": ("other",), "eq": ("other",), "ne": ("other",), "lt": ("other",),
         "le": ("other",), "gt": ("other",), "ge": ("other",), "matmul": ("square",),
         "mm": ("square",), "transpose": (0, 1), "permute": ((1, 0),), "reshape": ((-1,),),
         "unsqueeze": (0,), "flip": ((0,),),
         "chunk": (2,), "split": (2,), "narrow": (0, 1, 2), "softmax": (1,),
         "log_softmax": (1,), "logsumexp": (1,), "cumsum": (1,), "cumprod": (1,),
         "cummax": (1,), "cummin": (1,), "logcumsumexp": (1,), "topk": (2,),
         "kthvalue": (2,), "multiply": ("other",), "divide": ("other",),
         "subtract": ("other",), "greater": ("other",), "greater_equal": ("other",),
         "less": ("other",), "less_equal": ("other",), "not_equal": ("other",),
         "roll": (1, 0), "tile": ((2,),), "swapaxes": (0, 1), "swapdims": (0, 1),
         "movedim": (0, 1), "moveaxis": (0, 1), "fmax": ("other",), "fmin": ("other",),
         "hypot": ("other",), "logaddexp": ("other",), "logaddexp2": ("other",),
         "xlogy": ("other",), "addcmul": ("other", "other"), "addcdiv": ("other", "other"),
         "addmm": ("square", "square"), "atan2": ("other",), "copysign": ("other",),
         "div": ("other",), "select": (0, 1), "tensor_split": (2,), "repeat_interleave": (2,),
         "clamp_min": (0.2,), "clamp_max": (0.2,), "kron": ("other",), "diff": (),
         "heaviside": ("other",), "float_power": (2,), "dot": None, "mv": None, "bmm": None,
         "outer": None, "cross": None, "take": None, "gather": None, "index_select": None,
         "scatter": None, "scatter_add": None, "scatter_reduce": None, "index_add": None,
         "index_copy": None, "index_put": None, "take_along_dim": None, "masked_fill": None,
         "masked_select": None, "isclose": ("other",), "allclose": ("other",),
         "bitwise_and": None, "bitwise_or": None, "bitwise_xor": None, "bitwise_not": None,
         "logical_and": ("other",), "logical_or": ("other",), "logical_xor": ("other",)}


@pytest.mark.parametrize("name", [n for n in NAMES if EXTRA.get(n, ()) is not None])
def test_toplevel_function_matches_torch(device: str, name: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 0.9, (3, 3))
    arrays = {"other": rng.uniform(0.1, 0.9, (3, 3)), "square": rng.uniform(0.1, 0.9, (3, 3))}

    def call(lib, make):
        args = [make(arrays[a]) if isinstance(a, str) and a in arrays else a
                for a in EXTRA.get(name, ())]
        return getattr(lib, name)(make(x), *args)

    want = call(torch, torch.tensor)
    got = call(zili, lambda a: zili.tensor(a, device=device))
    if isinstance(want, (tuple, list)):
        want, got = want[0], got[0]
    if isinstance(want, torch.Tensor):
        np.testing.assert_allclose(np.asarray(got.numpy(), np.float64),
                                   np.asarray(want.numpy(), np.float64), rtol=1e-10,
                                   atol=1e-12)
    else:
        assert got == want
